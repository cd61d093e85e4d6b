"""Erasing personal data: record the step, then destroy the keys, then drop the plaintext
submissions the decider has already decided.

The order makes every failure safe to repeat: a step recorded whose keys are still there is
finished by running the erasure again (it finds the same live keys and records it once more);
keys are never destroyed without a recorded step; and the submissions topic (days of
retention, plaintext as departments sent it) is emptied up to what the decider has decided,
so that the person's data does not outlive the keys there either.

The retention job (``retention_due``) finds the closed cases whose period has ended, by case
type (``RETENTION_YEARS``, or the operator's file), and erases them the same way.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from events.model import CaseType, Outcome
from events.officers import Officer, Role, directory
from events.payloads import ErasureBasis
from projections.db import connect
from projections.queries.retention import closed_before
from services.adapters.kafka import (
    drop_decided_submissions,
    partitioner,
    submit_and_wait,
    topic_partitions,
)
from services.integrity.signing import DepartmentSigners
from services.privacy.keystore import KeyStore
from services.progress import Say
from services.settings import KafkaRole, Settings

ERASE_STEP = "case.erase_personal_data"


@dataclass(frozen=True)
class RetentionRule:
    years: int
    source: str


RETENTION_YEARS: dict[CaseType, RetentionRule] = {
    CaseType.COMPLAINT: RetentionRule(
        3,
        "可配置的默认值，非法定期限：个人信息保护法 第十九条（保存期限应当为实现处理目的所必要的"
        "最短时间）；投诉举报的答复与回访在结案后即告完成 / a configurable default, not a statutory"
        " period: PIPL art. 19 (the shortest time the purpose needs)",
    ),
    CaseType.PETITION: RetentionRule(
        10,
        "机关文件材料归档范围和文书档案保管期限规定（国家档案局令第8号）定期10年（条文未经核对）"
        " / the archives rules' 10-year term for ordinary case files (unconfirmed)",
    ),
    CaseType.MEDIATION: RetentionRule(
        10,
        "同上：人民调解卷宗按定期10年保管（条文未经核对） / as above: mediation files, 10 years"
        " (unconfirmed)",
    ),
    CaseType.ENFORCEMENT: RetentionRule(
        30,
        "行政处罚案卷按定期30年保管（条文未经核对） / enforcement files, 30 years (unconfirmed)",
    ),
    CaseType.DISCLOSURE: RetentionRule(
        10,
        "机关文件材料归档范围和文书档案保管期限规定 定期10年（条文未经核对） / the archives"
        " rules' 10-year term (unconfirmed)",
    ),
}
"""Years after closure that a case's personal data is kept, and why (docs/privacy.md)."""


class ErasureError(RuntimeError):
    """An erasure that cannot be done as asked (nothing to erase, no such officer, refused)."""


@dataclass(frozen=True)
class Erased:
    case_id: str
    subjects: list[str]
    outcome: Outcome | None = None
    """The recorded step (None in a dry run)."""


@dataclass
class ErasureReport:
    erased: list[Erased] = field(default_factory=list)
    refused: list[Erased] = field(default_factory=list)
    destroyed: int = 0
    dropped_submissions: dict[int, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "erased": [
                {"case_id": e.case_id, "subjects": e.subjects, "version": e.outcome.version}
                for e in self.erased
                if e.outcome is not None
            ],
            "refused": [
                {
                    "case_id": e.case_id,
                    "code": e.outcome.code if e.outcome else None,
                    "message": e.outcome.message if e.outcome else "",
                }
                for e in self.refused
            ],
            "keys_destroyed": self.destroyed,
            "submissions_dropped_before": self.dropped_submissions,
        }


def retention_years(settings: Settings) -> dict[str, int]:
    """Years per case type: the defaults, with the operator's file over them."""
    years = {str(t): rule.years for t, rule in RETENTION_YEARS.items()}
    if settings.retention_years_file is not None:
        given = json.loads(settings.retention_years_file.read_text("utf-8"))
        unknown = set(given) - set(years)
        if unknown or not all(isinstance(v, int) and 0 < v <= 200 for v in given.values()):
            raise ErasureError(
                f"{settings.retention_years_file}: give whole years (1 to 200) per case type of"
                f" {sorted(years)}; not {json.dumps(given, ensure_ascii=False)}"
            )
        years.update(given)
    return years


def _years_before(day: date, years: int) -> datetime:
    try:
        start = day.replace(year=day.year - years)
    except ValueError:  # 29 February
        start = day.replace(year=day.year - years, day=28)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


async def retention_due(
    settings: Settings, keys: KeyStore, today: date
) -> list[tuple[dict[str, Any], list[str]]]:
    """Closed cases past their retention period that still hold live keys, with those keys'
    subjects, oldest closure first."""
    limits = {t: _years_before(today, y) for t, y in retention_years(settings).items()}
    async with connect(settings.postgres_dsn) as conn:
        cases = await closed_before(conn, limits)
    due = []
    for case in cases:
        live = await keys.live_subjects(case["case_id"])
        if live:
            due.append((case, live))
    return due


def privacy_officer(settings: Settings, officer_id: str | None) -> Officer:
    """The officer who records erasures: the one named, else the directory's only one."""
    if settings.officers_file is None:
        raise ErasureError("no officer directory: set CASETRAIL_OFFICERS_FILE")
    officers = directory(json.loads(settings.officers_file.read_text("utf-8")))
    if officer_id is not None:
        officer = officers.get(officer_id)
        if officer is None or Role.PRIVACY_OFFICER not in officer.roles:
            raise ErasureError(f"{officer_id}: no privacy_officer of the officer directory")
        return officer
    holders = [o for o in officers.values() if Role.PRIVACY_OFFICER in o.roles]
    if len(holders) != 1:
        names = ", ".join(o.officer_id for o in holders) or "none"
        raise ErasureError(f"name the privacy officer with --officer (the directory has: {names})")
    return holders[0]


async def erase(
    settings: Settings,
    keys: KeyStore,
    targets: Sequence[tuple[str, list[str]]],
    *,
    basis: ErasureBasis,
    reason: str,
    approved_by: str,
    officer: Officer,
    say: Say,
) -> ErasureReport:
    """Erase the given subjects of each case: one recorded step per case, then its keys, then
    the decided submissions of the partitions concerned."""
    report = ErasureReport()
    if not targets:
        return report
    department = settings.as_kafka_user(KafkaRole.DEPARTMENT)
    signers = DepartmentSigners.load(settings)
    now = datetime.now(UTC)
    bodies = {
        case_id: signers.sign(
            {
                "type": ERASE_STEP,
                "submission_id": str(uuid.uuid4()),
                "case_id": case_id,
                "actor": {
                    "officer_id": officer.officer_id,
                    "role": Role.PRIVACY_OFFICER.value,
                    "department": officer.department,
                },
                "occurred_at": now.isoformat(),
                "payload": {
                    "subjects": subjects,
                    "basis": basis.value,
                    "reason": reason,
                    "approved_by": approved_by,
                },
            }
        )
        for case_id, subjects in targets
    }
    count = sum(len(s) for _, s in targets)
    say(f"recording the erasure of {count} subjects of {len(bodies)} cases")
    outcomes = await submit_and_wait(department, list(bodies.values()))
    for case_id, subjects in targets:
        outcome = outcomes[str(bodies[case_id]["submission_id"])]
        done = Erased(case_id, subjects, outcome)
        if outcome.status != "accepted":
            report.refused.append(done)
            say(f"  refused {case_id}: {outcome.code} {outcome.message}")
            continue
        because = f"{ERASE_STEP} {case_id} v{outcome.version}: {reason}"
        report.destroyed += len(await keys.destroy(subjects, because))
        report.erased.append(done)
    if report.erased:
        # Submissions and outcomes have equal partitions; a department may describe outcomes.
        partitions = len(await topic_partitions(department, settings.outcomes_topic))
        where = sorted({partitioner(partitions)(e.case_id) for e in report.erased})
        report.dropped_submissions = await drop_decided_submissions(settings, where)
    return report


async def requested_targets(
    keys: KeyStore, cases: Sequence[str], subjects: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """What ``casetrail erase --case … --subject …`` destroys: every live key of each case named,
    and each subject named (on its own case). ErasureError for a name with nothing to erase."""
    wanted: dict[str, list[str]] = {}
    for case_id in cases:
        live = await keys.live_subjects(case_id)
        if not live:
            raise ErasureError(
                f"case {case_id} holds no personal data that can still be erased: already"
                " erased, none recorded, no such case, or written in plaintext before sealing"
                " (docs/privacy.md, 'Events written before sealing')"
            )
        wanted.setdefault(case_id, []).extend(s for s in live if s not in wanted.get(case_id, []))
    for given in subjects:
        try:
            subject = str(uuid.UUID(given))
        except ValueError:
            raise ErasureError(f"{given!r} is no subject id (a UUID)") from None
        owner = await keys.case_of(subject)
        if owner is None:
            raise ErasureError(f"no data subject {subject} in the key store")
        if (await keys.get([subject])).get(subject) is None:
            raise ErasureError(f"data subject {subject} (case {owner}) is already erased")
        if subject not in wanted.setdefault(owner, []):
            wanted[owner].append(subject)
    return list(wanted.items())
