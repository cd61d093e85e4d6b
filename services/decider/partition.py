"""What the decider knows about one partition it owns, and how it answers one submission.

No I/O here: the runtime feeds in raw records and writes out what ``decide_record`` returns.

A record is answered by the first of these that refuses it, else by ``events.decide``:

1. at most ``max_bytes`` (``invalid_payload``);
2. it parses as a submission (``invalid_payload``, ``missing_field``);
3. its key is its case_id, or it has none (``invalid_payload``); and it sits on that case's
   partition, or it is not answered here but forwarded there (``Forward``), unless it was
   forwarded once already (``wrong_partition``: never a loop);
4. who vouches for it (``services.integrity.signing.SubmissionVerifier``: ``unsigned_submission``,
   ``unknown_signer``, ``bad_signature``, ``signer_department_mismatch``);
5. a submission_id already answered keeps its answer, whatever the record says now: a resend,
   well signed or not, can change nothing;
6. the domain's checks (``events.decide``); the events record who vouched (``vouched_by``), and
   their personal data is sealed per data subject (``services.privacy.sealing``).

A refusal at steps 1 to 4 also leaves an earlier answer to the same submission_id as it was.

A forwarded record leaves nothing here, no case and no outcome: its case's partition decides it
(or answers a re-send with the outcome it gave there), in the order its client sent the case's
submissions, which all arrived here and are forwarded in that order.
"""

import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from events.deadlines import DEFAULT_RULES, ClockRule
from events.decide import decide_and_fold, evolve
from events.errors import Rejection, RejectionCode
from events.model import Event, EventRef, Outcome
from events.officers import Officer
from events.state import CaseState, Context
from events.submissions import attribution, parse_submission
from events.suite import Suite
from services.decider.snapshot import case_records
from services.integrity.signing import SubmissionVerifier
from services.privacy.sealing import Sealer

MESSAGE_CHARS = 2000
"""A rejection message is cut here: it may quote what the client sent, however long."""


UNVOUCHED = frozenset(
    {
        RejectionCode.INVALID_PAYLOAD,
        RejectionCode.MISSING_FIELD,
        RejectionCode.UNSIGNED_SUBMISSION,
        RejectionCode.UNKNOWN_SIGNER,
        RejectionCode.BAD_SIGNATURE,
        RejectionCode.SIGNER_DEPARTMENT_MISMATCH,
        RejectionCode.WRONG_PARTITION,
    }
)
"""Refusals that come before anyone is known to have vouched for the record: answered, never
remembered as the answer to its submission_id (a lifecycle's own invalid_payload, rare, is then
decided again on a resend after a take-over: the same payload, the same answer)."""


@dataclass(frozen=True)
class Forward:
    """Where a submission that arrived on another partition than its case's goes: to the
    case's partition of the submissions topic, keyed by its case_id, bytes and headers as
    they came."""

    partition: int
    case_id: str


@dataclass(frozen=True)
class Decision:
    """What to write for one submission record: an outcome (None for dead letters and
    forwards), the events it appends, for a record that cannot be read at all the reason it is
    dead, and for a submission of another partition's case where to forward it."""

    outcome: Outcome | None
    events: tuple[Event, ...] = ()
    dead_letter_reason: str | None = None
    forward: Forward | None = None


@dataclass
class PartitionState:
    """Cases and decided submissions of one partition. ``staged_*`` hold the effects of the
    transaction in progress; they become part of the state only when it commits."""

    officers: Mapping[str, Officer]
    signatures: SubmissionVerifier
    """Who may vouch for a submission: the key ring, and whether a signature is required."""
    rules: tuple[ClockRule, ...] = DEFAULT_RULES
    partition: int = 0
    max_bytes: int = 64 * 1024
    """Larger records are refused: every event and outcome stays far below Kafka's size limit."""
    max_event_bytes: int = 900 * 1024
    """Larger events are refused: below Kafka's default 1 MiB per record, with room to spare."""
    partition_of: Callable[[str], int] | None = None
    """The partition a case lives on (None: not checked). A client partitioning by another
    hash than Kafka's default (librdkafka's CRC32) sends a case's submissions elsewhere: they
    are forwarded, never decided there, which would split the case's history."""
    suite: Suite = field(kw_only=True)
    """The log's cryptographic suite: which hash chains each case's events."""
    sealer: Sealer | None = None
    """Seals each event's personal data (None: appended in plaintext); its new keys wait in it
    until the runtime stores them, before the transaction commits."""
    cases: dict[str, CaseState] = field(default_factory=dict)
    outcomes: dict[uuid.UUID, bytes] = field(default_factory=dict)
    """Each outcome in memory as its JSON: a quarter of the memory of the model, and read
    again only for a re-send (or a take-over's fold)."""
    by_case: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    """Every case_id known (with a state or only refusals), with its submissions' ids."""
    changed: dict[str, int] = field(default_factory=dict)
    """Cases changed since the last snapshot (committed), with the first of their outcomes
    that changed: the next snapshot rewrites them from there."""
    staged_cases: dict[str, CaseState] = field(default_factory=dict)
    staged_outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict)
    hot_cases: int = 0
    """How many unchanged cases ``evict`` keeps (0: all of them)."""
    cold: bool = False
    """Some cases are only in the case store: before the state touches a case, the runtime
    loads it from there if it is (``to_load``, ``load``)."""
    case_count: int = 0
    """Every case the partition knows, in memory or not."""
    uncopied: set[str] = field(default_factory=set)
    """Cases in a committed snapshot that the case store has not copied yet: kept."""
    evictable: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Cases in memory that the case store holds as they are, least recently used first."""

    def replay_event(self, event: Event) -> None:
        """Fold one event of the log into the state (used when the partition is taken over)."""
        current = self.cases.get(event.case_id)
        if current is not None and event.version <= current.version:
            # A take-over from a snapshot reads only the events after it: one it already
            # holds means the log and the snapshot disagree. Never folded twice.
            at = current.version
            raise ValueError(f"v{event.version} is folded already (the case is at v{at})")
        self.cases[event.case_id] = evolve(current, event, self.rules)
        # The outcome of the submission that wrote this event, rebuilt from the log in case the
        # outcomes topic no longer holds it. The two topics are read interleaved, so the
        # outcome may already be known and list this event.
        previous = self._outcome(event.submission_id)
        known = previous.events if previous else ()
        if any(ref.event_id == event.event_id for ref in known):
            return
        refs = (*known, EventRef(event_id=event.event_id, version=event.version, type=event.type))
        self._remember(
            Outcome(
                submission_id=event.submission_id,
                case_id=event.case_id,
                status="accepted",
                events=refs,
                version=event.version,
                decided_at=event.recorded_at,
            )
        )

    def replay_outcome(self, outcome: Outcome) -> None:
        """The outcome as it was published: it wins over one rebuilt from events. A refusal of
        a record nobody vouched for is not remembered (``_refused``)."""
        if outcome.code in UNVOUCHED:
            return
        self._remember(outcome)

    def _remember(self, outcome: Outcome) -> None:
        """Keep an outcome (new, or one rebuilt from events now published) for its case."""
        if outcome.case_id not in self.by_case:
            self.case_count += 1  # its case is new: the runtime loads every stored case first
        self.evictable.pop(outcome.case_id, None)  # changed: kept until a snapshot is copied
        submissions = self.by_case.setdefault(outcome.case_id, [])
        if outcome.submission_id in self.outcomes:
            # Rare (an outcome replacing the one rebuilt from its events): worth a search.
            where = next(
                (i for i, s in enumerate(submissions) if s == outcome.submission_id),
                len(submissions),
            )
        else:
            where = len(submissions)
            submissions.append(outcome.submission_id)
        self.outcomes[outcome.submission_id] = outcome.model_dump_json().encode()
        self.changed[outcome.case_id] = min(where, self.changed.get(outcome.case_id, where))

    def load(
        self, cases: Mapping[str, tuple[CaseState | None, list[Outcome]]], kept: bool = False
    ) -> None:
        """Cases as a snapshot holds them, from the case store (or a snapshot read whole):
        only cases not in memory, which the log after that snapshot has not changed. ``kept``:
        not evicted before the case store has copied a snapshot again (it is away)."""
        for case_id, (state, outcomes) in cases.items():
            if case_id in self.by_case:
                continue  # in memory already, perhaps changed since: newer than the store's
            if state is not None:
                self.cases[case_id] = state
            self.by_case[case_id] = [outcome.submission_id for outcome in outcomes]
            for outcome in outcomes:
                self.outcomes[outcome.submission_id] = outcome.model_dump_json().encode()
            if kept:
                self.uncopied.add(case_id)
            else:
                self.evictable[case_id] = None

    def to_load(
        self, wanted: Iterable[tuple[uuid.UUID | None, str]]
    ) -> tuple[set[str], set[uuid.UUID]]:
        """Of the (submission_id, case_id) a batch names, the cases not in memory and the
        submission_ids not answered in memory: what to ask the case store for (nothing unless
        ``cold``). Touches the cases in memory, so that they are evicted last."""
        cases: set[str] = set()
        submissions: set[uuid.UUID] = set()
        if not self.cold:
            return cases, submissions
        for submission_id, case_id in wanted:
            if self._home(case_id) != self.partition:
                continue  # forwarded (or refused) without reading any case
            if case_id in self.by_case:
                if case_id in self.evictable:
                    self.evictable.move_to_end(case_id)
            else:
                cases.add(case_id)
            if submission_id is not None and self._answered(submission_id) is None:
                submissions.add(submission_id)
        return cases, submissions

    def copied(self) -> None:
        """The case store holds the latest committed snapshot: its cases may be evicted."""
        for case_id in self.uncopied:
            if case_id not in self.changed:
                self.evictable[case_id] = None
        self.uncopied.clear()

    def crowded(self) -> bool:
        """As many cases changed since the last snapshot as ``hot_cases``: they are kept until
        a snapshot is copied, so a snapshot is due whatever the interval says (memory holds at
        most twice ``hot_cases``, however the submissions spread over cases)."""
        return 0 < self.hot_cases <= len(self.changed) + len(self.staged_cases)

    def evict(self) -> int:
        """Forget the least recently used unchanged cases beyond ``hot_cases``; how many."""
        if not self.hot_cases:
            return 0
        evicted = 0
        while len(self.evictable) > self.hot_cases:
            case_id, _ = self.evictable.popitem(last=False)
            self.cases.pop(case_id, None)
            for submission_id in self.by_case.pop(case_id, ()):
                self.outcomes.pop(submission_id, None)
            evicted += 1
        self.cold = self.cold or evicted > 0
        return evicted

    def snapshot(self) -> list[tuple[bytes, bytes]]:
        """The records of every case changed since the last snapshot, the transaction in
        progress included (the snapshot is written in it), as (key, value)."""
        staged: dict[str, list[Outcome]] = {}
        for outcome in self.staged_outcomes.values():
            staged.setdefault(outcome.case_id, []).append(outcome)
        records = []
        for case_id in self.changed.keys() | self.staged_cases.keys() | staged.keys():
            known = [self.outcomes[s] for s in self.by_case.get(case_id, ())]
            fresh = [
                o.model_dump_json().encode()
                for o in staged.get(case_id, ())
                if o.submission_id not in self.outcomes
            ]
            first = self.changed.get(case_id, len(known))
            outcomes = known + fresh
            records += case_records(case_id, self.case(case_id), outcomes, first)
        return records

    def known_cases(self) -> int:
        """How many case records a snapshot holds, the transaction in progress included."""
        staged = {o.case_id for o in self.staged_outcomes.values()} | self.staged_cases.keys()
        return self.case_count + len(staged - self.by_case.keys())

    def commit(self, snapshotted: bool = False) -> None:
        """The transaction committed (``snapshotted``: with a snapshot, which the case store
        has yet to copy)."""
        self.cases.update(self.staged_cases)
        for outcome in self.staged_outcomes.values():
            self._remember(outcome)
        if snapshotted:
            self.uncopied |= self.changed.keys()
            self.changed.clear()
        self.abort()

    def abort(self) -> None:
        self.staged_cases.clear()
        self.staged_outcomes.clear()
        if self.sealer is not None:
            self.sealer.drop()

    def _home(self, case_id: str) -> int:
        return self.partition if self.partition_of is None else self.partition_of(case_id)

    def _placed(
        self, case_id: str, key: bytes | None, forwarded_from: str | None
    ) -> Rejection | Forward | None:
        """None if the record is in its place; else where to forward it, or why not."""
        if key is not None and key != case_id.encode():
            return _invalid(f"the record's key must be its case_id {case_id!r}, not {key!r}")
        home = self._home(case_id)
        if home == self.partition:
            return None
        if forwarded_from is None:
            return Forward(home, case_id)
        return Rejection(
            code=RejectionCode.WRONG_PARTITION,
            message=(
                f"提交转发后仍不在其案件所在的分区 / case {case_id} belongs on partition {home},"
                f" not {self.partition}, by this decider's count of partitions; the record was"
                f" forwarded here already (from {forwarded_from}): the deciders disagree on the"
                " partition count, so it is not forwarded again. Send it again once they agree."
            ),
        )

    def case(self, case_id: str) -> CaseState | None:
        return self.staged_cases.get(case_id) or self.cases.get(case_id)

    def decide_record(
        self,
        value: bytes | None,
        now: datetime,
        key: bytes | None = None,
        forwarded_from: str | None = None,
    ) -> Decision:
        """Whatever the bytes, a decision: an answer for every record (or where to forward it),
        never an exception (one record that could not be decided would stop its whole
        partition). ``forwarded_from``: the record was forwarded here by a decider, from there
        (the runtime's ``FORWARDED_FROM`` header)."""
        raw = value or b""
        if len(raw) > self.max_bytes:
            message = f"a submission has at most {self.max_bytes} bytes; this one has {len(raw)}"
            return self._refused(
                raw, Rejection(code=RejectionCode.INVALID_PAYLOAD, message=message), now
            )
        try:
            return self._decide(raw, now, key, forwarded_from)
        except Exception as error:
            # Nothing was staged: _decide stages only once the whole answer is known.
            message = f"the decider could not read this record: {type(error).__name__}: {error}"
            return self._refused(
                raw, Rejection(code=RejectionCode.INVALID_PAYLOAD, message=message), now
            )

    def _decide(
        self, raw: bytes, now: datetime, key: bytes | None, forwarded_from: str | None
    ) -> Decision:
        submission = parse_submission(raw)
        if not isinstance(submission, Rejection):
            placed = self._placed(submission.case_id, key, forwarded_from)
            if isinstance(placed, Forward):
                # Before the signature: its case's partition checks that, as every other one,
                # and answers there, where the department waits for the outcome.
                return Decision(outcome=None, forward=placed)
            if placed is not None:
                submission = placed
        if isinstance(submission, Rejection):
            return self._refused(raw, submission, now)
        vouched = self.signatures.vouch(raw, submission, now)
        if isinstance(vouched, Rejection):
            return self._refused(raw, vouched, now)

        earlier = self._answered(submission.submission_id)
        if earlier is not None:
            return Decision(outcome=earlier)  # a re-sent submission: same answer, nothing new

        case_id = submission.case_id
        state = self.case(case_id)
        seal = self.sealer.seal if self.sealer is not None else None
        mark = len(self.sealer.pending) if self.sealer is not None else 0
        context = Context(
            now, self.officers, self.rules, vouched_by=vouched, suite=self.suite, seal=seal
        )
        try:
            decided = decide_and_fold(state, submission, context)
        except Exception:
            if self.sealer is not None:
                self.sealer.forget_since(mark)  # the record's answer is a refusal: no keys
            raise
        made_keys = self.sealer is not None and len(self.sealer.pending) > mark
        if not isinstance(decided, Rejection) and made_keys:
            decided = self._oversize(decided[0]) or decided
        if isinstance(decided, Rejection):
            if self.sealer is not None:
                self.sealer.forget_since(mark)  # a step refused makes no keys
            outcome = _rejected(submission.submission_id, case_id, decided, state, now)
            self.staged_outcomes[submission.submission_id] = outcome
            return Decision(outcome=outcome)
        events, after = decided
        outcome = Outcome(
            submission_id=submission.submission_id,
            case_id=case_id,
            status="accepted",
            events=tuple(
                EventRef(event_id=e.event_id, version=e.version, type=e.type) for e in events
            ),
            version=after.version,
            decided_at=now,
        )
        self.staged_cases[case_id] = after
        self.staged_outcomes[submission.submission_id] = outcome
        return Decision(outcome=outcome, events=events)

    def _refused(self, raw: bytes, rejection: Rejection, now: datetime) -> Decision:
        """Rejected when we can tell whose it is; otherwise a dead letter, with the reason. A
        submission_id already answered keeps its answer, as any resend does.

        The answer is not remembered: nobody vouched for this record, so its submission_id
        must not be taken by it. Otherwise anyone who may publish could send garbage (or an
        unsigned or wrongly signed copy) under an id a department will use, and the department's
        real submission would then only get that rejection back. Take-over forgets such
        answers too (``replay_outcome``)."""
        whose = attribution(raw)
        if whose is None:
            return Decision(outcome=None, dead_letter_reason=rejection.message[:MESSAGE_CHARS])
        submission_id, case_id = whose
        earlier = self._answered(submission_id)
        if earlier is not None:
            return Decision(outcome=earlier)
        return Decision(_rejected(submission_id, case_id, rejection, self.case(case_id), now))

    def _oversize(self, events: tuple[Event, ...]) -> Rejection | None:
        """Sealing makes a short value long (a one-character name becomes a hundred bytes): a
        step naming many persons could grow past what Kafka takes, and an event that cannot be
        written would stop its partition for good."""
        size = max(len(event.model_dump_json()) for event in events)
        if size <= self.max_event_bytes:
            return None
        return _invalid(
            f"this step's event would be {size} bytes once its personal data is sealed; at most"
            f" {self.max_event_bytes}: record fewer persons in one step"
        )

    def _answered(self, submission_id: uuid.UUID) -> Outcome | None:
        return self.staged_outcomes.get(submission_id) or self._outcome(submission_id)

    def _outcome(self, submission_id: uuid.UUID) -> Outcome | None:
        kept = self.outcomes.get(submission_id)
        return Outcome.model_validate_json(kept) if kept is not None else None


def _invalid(message: str) -> Rejection:
    return Rejection(code=RejectionCode.INVALID_PAYLOAD, message=message)


def _rejected(
    submission_id: uuid.UUID,
    case_id: str,
    rejection: Rejection,
    state: CaseState | None,
    now: datetime,
) -> Outcome:
    return Outcome(
        submission_id=submission_id,
        case_id=case_id,
        status="rejected",
        code=rejection.code,
        message=rejection.message[:MESSAGE_CHARS],
        version=state.version if state is not None else 0,
        decided_at=now,
    )
