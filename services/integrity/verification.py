"""The whole verification behind ``casetrail verify``, as a pure function: the log, and the audit
trail against it, from records and rows already read (``shell`` reads them)."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from events.model import Outcome
from services.integrity.audit_check import compare_audit_trail
from services.integrity.checkpoints import Checkpoint
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
    after_last_checkpoint: int
    """Events (of the case) that no valid checkpoint covers yet."""
    log_events: int
    log_cases: int
    problems: list[Problem]

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
        if self.after_last_checkpoint:
            notes.append(
                f"note: {_plural(self.after_last_checkpoint, 'event')} after the last signed"
                " checkpoint of their partition: only their hash chains vouch for them"
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
            "after_last_checkpoint": self.after_last_checkpoint,
            "log": {"events": self.log_events, "cases": self.log_cases},
            "problems": [p.as_json() for p in self.problems],
        }


def verify(
    events: Sequence[Record],
    checkpoint_records: Iterable[Record],
    public_key: Ed25519PublicKey | None,
    rows: Iterable[Mapping[str, Any]] | None,
    projected: Mapping[int, int],
    case: str | None = None,
    outcome_records: Iterable[Record] = (),
) -> Verification:
    """The log (``events`` and ``checkpoint_records`` as stored, and the outcomes topic, which
    must hold nothing but outcomes) and, unless ``rows`` is None, the audit trail against it.
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
    log = verify_log(events, checkpoints, public_key)
    # Problems of a whole partition (case_id None) count for a case too: the partition chain is
    # what vouches for the case's place on the log, and for a case removed altogether.
    problems += [p for p in log.problems if case is None or p.case_id in (None, case)]

    counts: dict[int, int] = {}
    in_scope = after_last_checkpoint = 0
    for partition, _, raw in events:
        try:
            fields = read_event(raw)
        except (ValueError, KeyError, TypeError):
            continue
        counts[partition] = counts.get(partition, 0) + 1
        if case is None or fields["case_id"] == case:
            in_scope += 1
            if counts[partition] > log.sealed.get(partition, 0):
                after_last_checkpoint += 1

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
        after_last_checkpoint=after_last_checkpoint,
        log_events=log.events,
        log_cases=log.cases,
        problems=sorted(problems, key=order),
    )
