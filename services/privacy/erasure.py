"""Erasing personal data: record the step, then destroy the keys, then drop the plaintext
submissions the decider has already decided.

The order makes every failure safe to repeat: a step recorded whose keys are still there is
finished by running the erasure again (it finds the subjects the log says are erased whose keys
live, and destroys those keys without recording the step twice, which the decider would refuse);
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
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events.model import CaseType, Outcome
from events.officers import Officer, Role, directory
from events.payloads import ErasureBasis
from events.sealed import subjects_in
from projections.db import connect
from projections.queries.retention import closed_before
from services.adapters.event_log import events_of_cases
from services.adapters.kafka import (
    drop_decided_submissions,
    submit_and_wait,
    topic_partitions,
)
from services.integrity.signing import DepartmentSigners
from services.privacy.keystore import KeyStore
from services.progress import Say
from services.settings import KafkaRole, Settings

ERASE_STEP = "case.erase_personal_data"
ERASED_EVENT = "case.personal_data_erased"


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
    finished: list[str] = field(default_factory=list)
    """Cases whose erasure step was recorded before, and whose keys went only now."""
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
            "finished": self.finished,
            "keys_destroyed": self.destroyed,
            "submissions_dropped_before": self.dropped_submissions,
        }


def retention_years(settings: Settings) -> dict[str, int]:
    """Years per case type: the defaults, with the operator's file over them."""
    years = {str(t): rule.years for t, rule in RETENTION_YEARS.items()}
    if settings.retention_years_file is not None:
        text = settings.retention_years_file.read_text("utf-8")
        try:
            given = json.loads(text)
        except ValueError:
            given = text
        if (
            not isinstance(given, dict)
            or set(given) - set(years)
            or not all(type(v) is int and 0 < v <= 200 for v in given.values())
        ):
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


STRAY_AFTER = timedelta(hours=1)
"""How long after it was made a key no event on the log uses is taken for a stray. The decider
stores a key before the transaction of its event commits, and a transaction lasts a minute at
most (transaction.timeout.ms): a younger key may seal an event about to appear, which an
erasure must not make unreadable without naming its subject."""


@dataclass(frozen=True)
class Target:
    """What an erasure does on one case."""

    case_id: str
    subjects: list[str]
    """The case's data subjects to erase: named in the recorded step, then their keys go."""
    stray: list[str] = field(default_factory=list)
    """Keys of the case that no event uses (made for a transaction that then aborted), made
    ``STRAY_AFTER`` ago or earlier: they seal nothing, and go too."""
    unfinished: list[str] = field(default_factory=list)
    """Subjects an erasure step on the log already names whose keys still live (an erasure
    that stopped before destroying them, or recorded after its command gave up waiting): their
    keys go, with no step recorded again."""

    @property
    def anything(self) -> bool:
        return bool(self.subjects or self.stray or self.unfinished)


async def plan(
    settings: Settings, keys: KeyStore, wanted: dict[str, set[str] | None]
) -> list[Target]:
    """For each case, the subjects asked for (None: every one) that its events on the log hold
    and whose keys live: to be named in a step if no erasure named them yet, else (``unfinished``)
    only to lose their keys. The log, not a read model, says whose data a case holds: the
    decider checks the step against the same."""
    logged = await events_of_cases(settings, list(wanted))
    living = await keys.live_keys(list(wanted))
    targets = []
    for case_id, asked in wanted.items():
        events = logged.get(case_id, [])
        recorded = set().union(*(subjects_in(e.payload) for e in events))
        erased = {s for e in events if e.type == ERASED_EVENT for s in e.payload["subjects"]}
        live = {k.subject for k in living.get(case_id, [])}
        settled = {k.subject for k in living.get(case_id, []) if k.age >= STRAY_AFTER}
        erasable = (recorded - erased) & live
        unfinished = recorded & erased & live
        if asked is None:
            stray = sorted(settled - recorded)
            targets.append(Target(case_id, sorted(erasable), stray, sorted(unfinished)))
            continue
        unknown = sorted(asked - erasable - unfinished)
        if unknown:
            raise ErasureError(
                f"case {case_id} holds no personal data of {', '.join(unknown)} that can still"
                " be erased (already erased, or not on the log)"
            )
        targets.append(
            Target(case_id, sorted(asked & erasable), unfinished=sorted(asked & unfinished))
        )
    return targets


async def retention_due(
    settings: Settings, keys: KeyStore, today: date
) -> list[tuple[dict[str, Any], Target]]:
    """Closed cases past their retention period that still hold personal data, with what to
    erase of each, oldest closure first."""
    limits = {t: _years_before(today, y) for t, y in retention_years(settings).items()}
    async with connect(settings.postgres_dsn) as conn:
        cases = await closed_before(conn, limits)
    # Only cases with a live key are worth reading the log for.
    living = await keys.live_keys([case["case_id"] for case in cases])
    live = [case for case in cases if case["case_id"] in living]
    if not live:
        return []
    targets = await plan(settings, keys, dict.fromkeys((c["case_id"] for c in live), None))
    return [(case, t) for case, t in zip(live, targets, strict=True) if t.anything]


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
    targets: Sequence[Target],
    *,
    basis: ErasureBasis,
    reason: str,
    approved_by: str,
    officer: Officer,
    say: Say,
) -> ErasureReport:
    """Erase the given subjects of each case: one recorded step per case, then its keys, then
    the decided submissions (of every partition). Subjects whose step is recorded
    already (``Target.unfinished``) only lose their keys."""
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
        for case_id, subjects in ((t.case_id, t.subjects) for t in targets if t.subjects)
    }
    count = sum(len(t.subjects) for t in targets)
    say(f"recording the erasure of {count} subjects of {len(bodies)} cases")
    outcomes = await submit_and_wait(department, list(bodies.values())) if bodies else {}
    for target in targets:
        if target.unfinished:
            # The log says these are erased: finish what an earlier run left undone.
            because = f"{ERASE_STEP} {target.case_id} (recorded before): {reason}"
            report.destroyed += len(await keys.destroy(target.unfinished, because))
            report.finished.append(target.case_id)
        if target.stray:
            # Keys no event uses seal nothing: no step to record, nothing to keep them for.
            unused = f"unused key of case {target.case_id}: {reason}"
            report.destroyed += len(await keys.destroy(target.stray, unused))
        if not target.subjects:
            continue
        outcome = outcomes[str(bodies[target.case_id]["submission_id"])]
        done = Erased(target.case_id, target.subjects, outcome)
        if outcome.status != "accepted":
            report.refused.append(done)
            say(f"  refused {target.case_id}: {outcome.code} {outcome.message}")
            continue
        because = f"{ERASE_STEP} {target.case_id} v{outcome.version}: {reason}"
        report.destroyed += len(await keys.destroy(target.subjects, because))
        report.erased.append(done)
    if report.erased or report.finished:
        # Every partition, not only the cases' own: a client partitioning by another hash put
        # some of a case's submissions elsewhere (refused there, but kept in plaintext). Nothing
        # reads a decided submission again. Submissions and outcomes have equal partitions; a
        # department may describe outcomes.
        partitions = len(await topic_partitions(department, settings.outcomes_topic))
        report.dropped_submissions = await drop_decided_submissions(settings, range(partitions))
    return report


async def requested_targets(
    settings: Settings, keys: KeyStore, cases: Sequence[str], subjects: Sequence[str]
) -> list[Target]:
    """What ``casetrail erase --case … --subject …`` erases: every person of each case named,
    and each subject named (on its own case). ErasureError for a name with nothing to erase."""
    wanted: dict[str, set[str] | None] = dict.fromkeys(cases, None)
    for given in subjects:
        try:
            subject = str(uuid.UUID(given))
        except ValueError:
            raise ErasureError(f"{given!r} is no subject id (a UUID)") from None
        owner = await keys.case_of(subject)
        if owner is None:
            raise ErasureError(f"no data subject {subject} in the key store")
        asked = wanted.setdefault(owner, set())
        if asked is not None:
            asked.add(subject)
    targets = await plan(settings, keys, wanted)
    for target in targets:
        if not target.anything:
            raise ErasureError(
                f"case {target.case_id} holds no personal data that can still be erased: already"
                " erased, none recorded, no such case, or written in plaintext before sealing"
                " (docs/privacy.md, 'What remains')"
            )
    return targets
