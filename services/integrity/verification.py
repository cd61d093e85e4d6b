"""The whole verification behind ``casetrail verify``: the log, and the audit trail against it.
``verify`` is the pure function, on records and rows already read; ``shell.verify_system``
feeds the same checks (``LogCheck``, ``AuditComparison``) from a stream, and both put the
outcome together with ``verification``."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from events.model import Outcome
from events.suite import Suite
from services.integrity.audit_check import AuditComparison, AuditReport, Row, compare_audit_trail
from services.integrity.audit_pairing import Logged, Position, event_id, logged
from services.integrity.checkpoints import Checkpoint
from services.integrity.declaration import LogSuite, SuiteDeclaration, mismatch, read_declaration
from services.integrity.id_book import IdBook
from services.integrity.keyring import KeyRing
from services.integrity.log_check import LogCheck, LogReport, event_key, readable
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


def read_checkpoint(
    partition: int, offset: int, raw: bytes
) -> Checkpoint | SuiteDeclaration | Problem:
    """A record of the checkpoints topic: a checkpoint, the log's suite declaration, or the
    problem that it is neither."""
    declaration = read_declaration(raw)
    if declaration is not None:
        return declaration
    try:
        return Checkpoint.model_validate_json(raw)
    except ValidationError as error:
        return Problem(
            ProblemKind.UNREADABLE_CHECKPOINT,
            f"checkpoints p{partition}@{offset}",
            f"not a checkpoint: {error.errors()[0]['msg']}",
            partition=partition,
        )


def wrong_suite(case: str | None, log: LogSuite, mine: Suite, topic: str) -> Verification | None:
    """The outcome when the log is of another suite than the verifier is set to: that one
    problem, saying what to set, and nothing else checked (under the wrong hash every event
    would look altered). None when the log is of ``mine``, of none yet, or of both (then
    each checkpoint of the other suite is named)."""
    detail = mismatch(log, mine, "casetrail verify", topic)
    if detail is None or log.mixed:
        return None
    problem = Problem(ProblemKind.SUITE_MISMATCH, f"the log {topic}", detail)
    return Verification(
        case=case,
        events=0,
        cases=0,
        checkpoints=0,
        audit_rows=None,
        not_yet_projected=0,
        recent_uncovered=0,
        log_events=0,
        log_cases=0,
        problems=[problem],
    )


def outcome_problem(partition: int, offset: int, raw: bytes) -> Problem | None:
    """A record of the outcomes topic that is no outcome (only the decider writes there)."""
    try:
        Outcome.model_validate_json(raw)
    except ValidationError as error:
        return Problem(
            ProblemKind.UNREADABLE_OUTCOME,
            f"outcomes p{partition}@{offset}",
            f"not an outcome: {error.errors()[0]['msg']}",
            partition=partition,
        )
    return None


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
    suite: Suite,
) -> Verification:
    """The log (``events`` and ``checkpoint_records`` as stored, and the outcomes topic, which
    must hold nothing but outcomes) and, unless ``rows`` is None, the audit trail against it.
    Checkpoints count only if signed with a checkpoint key of ``ring`` valid when signed;
    events they do not cover are problems once recorded more than ``grace`` before ``now``.
    With ``case``, the chains and checkpoints are still computed over the whole log, but only
    problems touching that case are reported, plus those of whole partitions; the audit trail
    is compared for that case only.

    The same checks as ``shell.verify_system`` makes on a stream, on records already read."""
    checkpoint_records = list(checkpoint_records)
    found = LogSuite(ring)
    for record in sorted(checkpoint_records, key=lambda r: (r[0], r[1])):
        found.record(*record)
    other = wrong_suite(case, found, suite, "the checkpoints topic")
    if other is not None:
        return other
    problems: list[Problem] = []
    log = LogCheck(ring, suite=suite)
    suites = LogSuite(ring)
    for record in checkpoint_records:
        checkpoint = read_checkpoint(*record)
        if isinstance(checkpoint, Problem):
            problems.append(checkpoint)
        elif isinstance(checkpoint, SuiteDeclaration):
            suites.declaration(record[0], record[1], checkpoint)
        else:
            log.checkpoint(checkpoint)
    problems += suites.problems + suites.conflicts(suite)
    for record in outcome_records:
        problem = outcome_problem(*record)
        if problem is not None:
            problems.append(problem)
    seen: set[str] = set()
    of_case = 0
    for partition, offset, raw in events:
        read = readable(raw)
        key = None if isinstance(read, Exception) else event_key(read)
        fields = log.event(partition, offset, raw, read, key in seen)
        if key is not None:
            seen.add(key)
        of_case += fields is not None and fields["case_id"] == case
    audit = None if rows is None else compare_audit_trail(events, rows, projected, case)
    return verification(case, log.finish(now, grace), audit, of_case, problems, grace)


class VerificationPass:
    """``verify`` fed as ``shell.verify_system`` streams the topics and the audit trail: every
    checkpoint and outcome, then the events a batch at a time in log order (partition after
    partition, offsets in order) with the rows naming places up to the batch's last (rows in
    the same order), then the rest of the rows (``end``, or with a case ``rows_of_case``), then
    ``finish``. What it keeps is bounded by the cases (a chain head each) and what is found;
    the event ids go to ``ids``.

    ``projected`` is None when the audit trail is not compared; else, per partition, the next
    offset its projection will apply. ``shared_ids``: ids that more than one row holds."""

    def __init__(
        self,
        ring: KeyRing,
        ids: IdBook,
        case: str | None = None,
        projected: Mapping[int, int] | None = None,
        shared_ids: Collection[Any] = frozenset(),
        *,
        suite: Suite,
    ):
        self.ids, self.case = ids, case
        self.log = LogCheck(ring, ids.signed, suite=suite)
        self.audit = None if projected is None else AuditComparison(projected, case, shared_ids)
        self.problems: list[Problem] = []
        self.suite = suite
        self.suites = LogSuite(ring)
        """The log's suite declarations (the shell found the log's suite before)."""
        self.of_case: list[Logged] = []
        """The case's events the projector can read (with a case)."""
        self._count_of_case = 0

    def checkpoint(self, record: Record) -> None:
        checkpoint = read_checkpoint(*record)
        if isinstance(checkpoint, Problem):
            self.problems.append(checkpoint)
        elif isinstance(checkpoint, SuiteDeclaration):
            self.suites.declaration(record[0], record[1], checkpoint)
        else:
            self.log.checkpoint(checkpoint)

    def outcome(self, record: Record) -> None:
        problem = outcome_problem(*record)
        if problem is not None:
            self.problems.append(problem)

    def events(self, batch: Sequence[Record], rows: Iterable[Row] = ()) -> None:
        """The next records of the events topic, and (without a case) the next rows, naming
        places up to the last of them."""
        reads = [readable(raw) for _, _, raw in batch]
        events = [None if self.audit is None else logged(*record) for record in batch]
        notes = self.ids.note(
            [
                (
                    None if isinstance(read, Exception) else event_key(read),
                    None if event is None else event_id(event),
                    (partition, offset),
                )
                for (partition, offset, _), read, event in zip(batch, reads, events, strict=True)
            ]
        )
        merged = []
        for record, read, event, (duplicate, first) in zip(
            batch, reads, events, notes, strict=True
        ):
            fields = self.log.event(*record, read, duplicate)
            self._count_of_case += fields is not None and fields["case_id"] == self.case
            if event is None:
                continue
            if self.case is None:
                merged.append((event, first))
            elif event.case_id == self.case:
                self.of_case.append(event)
        if self.audit is not None and self.case is None:
            self.audit.merge(merged, rows)

    def end(self, rows: Iterable[Row] = ()) -> None:
        """No more events: the rows left (without a case)."""
        if self.audit is not None and self.case is None:
            self.audit.merge((), rows)
            self.audit.end()

    def rows_of_case(self, rows: Iterable[Row]) -> None:
        """The rows in the case's scope (``audit_check.in_case_scope`` of ``of_case``)."""
        if self.audit is not None:
            for event in self.of_case:
                self.audit.event_of_case(event)
            self.audit.rows_of_case(rows)

    def wanted_places(self) -> tuple[dict[Any, Position], set[Position]]:
        """Where the first event with each id that ``finish`` needs is, and the places whose
        events it needs to be read again (none on an intact audit trail)."""
        if self.audit is None:
            return {}, set()
        first = self.ids.first(self.audit.wanted_ids())
        return first, self.audit.wanted_places(first)

    def finish(
        self,
        first: Mapping[Any, Position],
        fetched: Mapping[Position, Logged],
        now: datetime,
        grace: timedelta,
    ) -> Verification:
        """``first`` as ``wanted_places`` gave it, and the events read at its places."""
        audit = None if self.audit is None else self.audit.finish(first, fetched)
        log = self.log.finish(now, grace)
        problems = self.problems + self.suites.problems + self.suites.conflicts(self.suite)
        return verification(self.case, log, audit, self._count_of_case, problems, grace)


def verification(
    case: str | None,
    log: LogReport,
    audit: AuditReport | None,
    of_case: int,
    problems: list[Problem],
    grace: timedelta,
) -> Verification:
    """The outcome, from the log's report, the audit trail's (None: not compared), how many
    readable events of the log are ``case``'s, and the problems of the checkpoints and
    outcomes topics."""
    # Problems of a whole partition (case_id None) count for a case too: the partition chain is
    # what vouches for the case's place on the log, and for a case removed altogether.
    problems = problems + [p for p in log.problems if case is None or p.case_id in (None, case)]
    in_scope = log.events if case is None else of_case
    if audit is not None:
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
