"""The whole verification behind ``casetrail verify``, as a pure function: the log, and the audit
trail against it, from records and rows already read (``shell`` reads them)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from events.model import Outcome
from services.integrity.audit_check import compare_audit_trail
from services.integrity.checkpoints import Checkpoint
from services.integrity.keyring import KeyRing
from services.integrity.log_check import read_event, verify_log
from services.integrity.problems import Problem, ProblemKind, Record, order


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class Verification:
    """The outcome of ``casetrail verify``."""

    case: str | None
    events: int
    """Events verified (with a case: that case's events)."""
    cases: int
    checkpoints: int
    audit_rows: int | None
    """Audit rows compared; None when the audit trail was not compared (log only)."""
    not_yet_projected: int
    recent_uncovered: int
    """Events (of the case) that no trusted checkpoint covers yet, recorded within the grace
    period (older ones are problems)."""
    log_events: int
    log_cases: int
    problems: list[Problem]
    grace_s: float = 0.0
    adopted: list[dict[str, Any]] = field(default_factory=list)
    """Checkpoints an operator signed to adopt events no decider wrote: where and why."""

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rows = (
            "audit trail not compared"
            if self.audit_rows is None
            else _plural(self.audit_rows, "audit row")
        )
        verdict = "intact" if self.intact else _plural(len(self.problems), "problem")
        log = f"{_plural(self.checkpoints, 'checkpoint')}"
        if self.case is None:
            counts = f"{_plural(self.events, 'event')}, {_plural(self.cases, 'case')}, {log}"
            return f"{counts}, {rows}: {verdict}"
        whole = f"{_plural(self.log_events, 'event')}, {_plural(self.log_cases, 'case')}, {log}"
        return (
            f"case {self.case}: {_plural(self.events, 'event')}, {rows} (log: {whole}): {verdict}"
        )

    def notes(self) -> list[str]:
        notes = []
        if self.not_yet_projected:
            notes.append(
                f"note: {_plural(self.not_yet_projected, 'event')} not in the audit trail yet"
                " (the projection has not reached them)"
            )
        if self.recent_uncovered:
            notes.append(
                f"note: {_plural(self.recent_uncovered, 'event')} recorded in the last"
                f" {self.grace_s:g} s not covered by a signed checkpoint yet (a problem if still"
                " so after that: the decider signs one with every write)"
            )
        for adopted in self.adopted:
            notes.append(
                f"note: p{adopted['partition']}: the events through offset {adopted['offset']}"
                f" were adopted by an operator at {adopted['created_at']} (key"
                f" {adopted['key_id']}): {adopted['reason']}"
            )
        return notes

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "case": self.case,
            "events": self.events,
            "cases": self.cases,
            "checkpoints": self.checkpoints,
            "audit_rows": self.audit_rows,
            "not_yet_projected": self.not_yet_projected,
            "recent_uncovered": self.recent_uncovered,
            "adopted": self.adopted,
            "log": {"events": self.log_events, "cases": self.log_cases},
            "problems": [p.as_json() for p in self.problems],
        }


def verify(
    events: Sequence[Record],
    checkpoint_records: Iterable[Record],
    ring: KeyRing,
    rows: Iterable[Mapping[str, Any]] | None,
    projected: Mapping[int, int],
    case: str | None = None,
    outcome_records: Iterable[Record] = (),
    *,
    now: datetime,
    grace: timedelta,
) -> Verification:
    """The log (``events`` and ``checkpoint_records`` as stored, and the outcomes topic, which
    must hold nothing but outcomes) and, unless ``rows`` is None, the audit trail against it.
    Checkpoints count only if signed with a checkpoint key of ``ring`` valid when signed;
    events they do not cover are problems once recorded more than ``grace`` before ``now``.
    With ``case``, the chains and checkpoints are still computed over the whole log, but only
    problems touching that case are reported, plus those of whole partitions; the audit trail
    is compared for that case only."""
    problems: list[Problem] = []
    checkpoints = []
    for partition, offset, raw in checkpoint_records:
        try:
            checkpoints.append(Checkpoint.model_validate_json(raw))
        except ValidationError as error:
            problems.append(
                Problem(
                    ProblemKind.UNREADABLE_CHECKPOINT,
                    f"checkpoints p{partition}@{offset}",
                    f"not a checkpoint: {error.errors()[0]['msg']}",
                    partition=partition,
                )
            )
    for partition, offset, raw in outcome_records:
        try:
            Outcome.model_validate_json(raw)
        except ValidationError as error:
            problems.append(
                Problem(
                    ProblemKind.UNREADABLE_OUTCOME,
                    f"outcomes p{partition}@{offset}",
                    f"not an outcome: {error.errors()[0]['msg']}",
                    partition=partition,
                )
            )
    log = verify_log(events, checkpoints, ring, now, grace)
    # Problems of a whole partition (case_id None) count for a case too: the partition chain is
    # what vouches for the case's place on the log, and for a case removed altogether.
    problems += [p for p in log.problems if case is None or p.case_id in (None, case)]
    in_scope = log.events if case is None else _events_of(events, case)

    audit = None
    if rows is not None:
        audit = compare_audit_trail(events, rows, projected, case)
        problems += audit.problems
    return Verification(
        case=case,
        events=in_scope,
        cases=log.cases if case is None else min(in_scope, 1),
        checkpoints=log.checkpoints
        + sum(p.kind == ProblemKind.UNREADABLE_CHECKPOINT for p in problems),
        audit_rows=None if audit is None else audit.rows,
        not_yet_projected=0 if audit is None else audit.not_yet_projected,
        recent_uncovered=sum(case is None or e.case_id == case for e in log.recent),
        log_events=log.events,
        log_cases=log.cases,
        problems=sorted(problems, key=order),
        grace_s=grace.total_seconds(),
        adopted=[
            {
                "partition": c.partition,
                "offset": c.offset,
                "count": c.count,
                "created_at": c.created_at.isoformat(),
                "key_id": c.key_id,
                "reason": c.operator_reason,
            }
            for c in log.adopted
        ],
    )


def _events_of(events: Sequence[Record], case: str) -> int:
    """How many readable events of the log are the case's."""
    count = 0
    for _, _, raw in events:
        try:
            count += read_event(raw)["case_id"] == case
        except (ValueError, KeyError, TypeError):
            continue
    return count
