"""The decider's snapshots without Kafka: what a take-over loads from one, and the log after it,
must decide exactly as the state folded from the whole log."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from events.errors import RejectionCode
from events.hashing import GENESIS_HASH
from events.model import Event, Outcome
from events.submissions import attribution
from services.decider.partition import Decision, PartitionState
from services.decider.snapshot import (
    CHUNK,
    HEAD_KEY,
    LAYOUT,
    Snapshot,
    chunk_key,
    head_record,
    stored_cases,
)
from tests.signing import SUITE, VERIFIER
from tests.unit.test_decider_partition import NOW, OFFICERS, record

LATER = datetime(2020, 3, 6, 2, 0, tzinfo=UTC)


class Log:
    """What the runtime writes, kept in memory: events, outcomes, snapshot records."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.outcomes: list[Outcome] = []
        self.snapshot: list[tuple[bytes, bytes | None]] = []

    def batch(self, state: PartitionState, values: list[bytes], snapshot: bool) -> list[Decision]:
        decisions = [state.decide_record(value, NOW) for value in values]
        for decision in decisions:
            self.events.extend(decision.events)
            if decision.outcome is not None:
                self.outcomes.append(decision.outcome)
        if snapshot:
            self.snapshot += state.snapshot()
            chain = (GENESIS_HASH, len(self.events), len(self.events) - 1)
            cases = state.known_cases()
            head = head_record(0, chain, -1, len(self.outcomes), 0, cases, NOW)
            self.snapshot.append((HEAD_KEY, head))
        state.commit(snapshotted=snapshot)
        return decisions

    def read_snapshot(self) -> Snapshot:
        read = Snapshot()
        for key, value in self.snapshot:
            read.record(key, value)
        return read


def taken_over(log: Log) -> PartitionState:
    """A take-over from the latest snapshot, folding the events and outcomes after it."""
    read = log.read_snapshot()
    assert read.problem(0) is None
    assert read.head is not None
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    state.load(read.cases())
    for event in log.events[read.head.chain_count :]:
        state.replay_event(event)
    for outcome in log.outcomes[read.head.outcomes_from :]:
        state.replay_outcome(outcome)
    return state


def folded(log: Log) -> PartitionState:
    """The state folded from the whole log, as before snapshots."""
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    for event in log.events:
        state.replay_event(event)
    for outcome in log.outcomes:
        state.replay_outcome(outcome)
    return state


def test_a_take_over_from_a_snapshot_and_the_tail_equals_the_whole_fold() -> None:
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    first = [record("register", f"XF-{n}") for n in range(5)]
    log.batch(live, first, snapshot=True)
    # After the snapshot: more steps, a refusal, a case that never opened.
    log.batch(live, [record("accept", "XF-1"), record("accept", "XF-404")], snapshot=False)
    log.batch(live, [record("accept", "XF-1"), record("register", "XF-9")], snapshot=False)

    from_snapshot, whole = taken_over(log), folded(log)
    assert from_snapshot.cases == whole.cases == live.cases
    assert from_snapshot.outcomes == whole.outcomes == live.outcomes

    # Every submission ever decided is answered as it was, and the next step as the live one.
    for value in [*first]:
        assert from_snapshot.decide_record(value, LATER) == live.decide_record(value, LATER)
    step = record("accept", "XF-2")
    assert from_snapshot.decide_record(step, LATER) == live.decide_record(step, LATER)


def test_a_rejected_submission_is_answered_from_the_snapshot_alone() -> None:
    """The outcomes topic keeps a week: the snapshot must hold refusals, whose only other
    trace is that topic."""
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    refused = record("accept", "XF-404")
    (decision,) = log.batch(live, [refused], snapshot=True)
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.UNKNOWN_CASE
    log.outcomes.clear()  # the week has passed
    again = taken_over(log).decide_record(refused, LATER)
    assert again.outcome == decision.outcome
    assert again.events == ()


def test_many_outcomes_of_one_case_go_in_chunks_and_only_the_last_is_rewritten() -> None:
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    log.batch(live, [record("register", "XF-1")], snapshot=True)
    refusals = [record("register", "XF-1") for _ in range(CHUNK + 10)]  # it exists already
    log.batch(live, refusals, snapshot=True)
    keys = [key for key, _ in log.snapshot]
    assert chunk_key("XF-1", 1) in keys
    log.batch(live, [record("register", "XF-1")], snapshot=True)
    last = [key for key, _ in log.snapshot][len(keys) :]
    assert last == [b"XF-1", chunk_key("XF-1", 1), HEAD_KEY]
    state = taken_over(log)
    assert state.outcomes == live.outcomes
    assert state.by_case["XF-1"] == live.by_case["XF-1"]


def test_a_snapshot_missing_a_record_or_a_chunk_is_not_used() -> None:
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    log.batch(live, [record("register", f"XF-{n}") for n in range(3)], snapshot=True)
    whole = log.read_snapshot()
    assert whole.problem(0) is None
    assert whole.problem(1) == "its head names partition 0"

    without_case = Snapshot()
    without_chunk = Snapshot()
    for key, value in log.snapshot:
        if key != b"XF-1":
            without_case.record(key, value)
        if key != chunk_key("XF-1", 0):
            without_chunk.record(key, value)
    assert without_case.problem(0) == "its head counts 3 cases, its records 2"
    assert without_chunk.problem(0) is None
    with pytest.raises(ValueError, match="chunk 0"):
        without_chunk.cases()

    garbled = Snapshot()
    for key, value in log.snapshot:
        garbled.record(key, b"{" if key == b"XF-2" else value)
    assert garbled.problem(0) == "1 of its records do not read"
    assert Snapshot().problem(0) == "no snapshot"


def test_an_event_the_snapshot_holds_already_is_never_folded_twice() -> None:
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    log.batch(live, [record("register", "XF-1")], snapshot=True)
    state = taken_over(log)
    with pytest.raises(ValueError, match="folded already"):
        state.replay_event(log.events[0])
    assert state.cases == live.cases


def test_tombstones_delete_what_another_log_left() -> None:
    read = Snapshot()
    read.record(b"XF-old", b'{"format": 1, "state": null, "outcomes": 0}')
    read.record(b"XF-old", None)
    assert read.keys == set()
    assert read.records == {}
    assert read.problem(0) == "no snapshot"


class Store:
    """The case store's copy of the snapshot records: each key's latest value, and each
    outcome's submission_id indexed to its case, as ``PgCaseStore`` keeps them."""

    def __init__(self) -> None:
        self.records: dict[bytes, bytes] = {}
        self.submissions: dict[uuid.UUID, str] = {}

    def copy(self, records: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in records:
            if value is None:
                self.records.pop(key, None)
                continue
            self.records[key] = value
            if b"/" in key:
                self.submissions.update(LAYOUT.submissions(value))

    def load(self, state: PartitionState, values: list[bytes]) -> None:
        """What the runtime does before a batch: load the cases its records name."""
        named = [n for n in (attribution(v) for v in values) if n is not None]
        cases, submission_ids = state.to_load(named)
        cases |= {self.submissions[s] for s in submission_ids if s in self.submissions}
        wanted = [
            (key, value)
            for key, value in self.records.items()
            if LAYOUT.kind_and_case(key)[1] in cases and key != HEAD_KEY
        ]
        state.load(stored_cases(wanted))


def test_a_decider_keeping_few_cases_in_memory_decides_as_one_keeping_them_all() -> None:
    """Every answer (new steps, refusals, re-sends of long-evicted submissions, a
    submission_id re-used for another case) is the same, and memory holds at most the hot
    cases and those changed since the snapshot the store copied."""
    everything = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    few = PartitionState(OFFICERS, VERIFIER, hot_cases=2, suite=SUITE)
    log, store = Log(), Store()
    registered = [record("register", f"XF-{n}") for n in range(8)]
    reused = json.loads(registered[0])
    reused["case_id"] = "XF-7"  # XF-0's submission_id, for another case
    batches = [
        registered[:4],
        [record("accept", "XF-1"), record("accept", "XF-404")],
        registered[4:],
        [*registered[:3], record("accept", "XF-0")],  # re-sent after XF-0..2 were evicted
        [json.dumps(reused).encode(), record("register", "XF-2"), record("accept", "XF-6")],
    ]
    for number, values in enumerate(batches):
        snapshot = number % 2 == 0
        expected = [everything.decide_record(v, NOW) for v in values]
        everything.commit(snapshotted=snapshot)
        store.load(few, values)
        assert log.batch(few, values, snapshot=snapshot) == expected
        if snapshot:
            store.copy(log.snapshot)
            few.copied()
        few.evict()
        assert few.crowded() == (len(few.changed) >= 2)  # the runtime would snapshot next
        assert len(few.by_case) <= 2 + len(few.changed)
        assert few.known_cases() == len(everything.by_case)
    assert few.cold
    store.load(few, [record("accept", case_id) for case_id in everything.by_case])
    assert few.cases == everything.cases
    assert few.outcomes == everything.outcomes


def test_cases_read_while_the_case_store_is_away_are_kept_until_it_copies_again() -> None:
    """Evicted now, they would have to be read again from the snapshot on the topic, whole,
    for every batch that names one, until PostgreSQL is back."""
    live, log = PartitionState(OFFICERS, VERIFIER, suite=SUITE), Log()
    log.batch(live, [record("register", f"XF-{n}") for n in range(4)], snapshot=True)
    state = PartitionState(OFFICERS, VERIFIER, hot_cases=1, suite=SUITE)
    state.load(log.read_snapshot().cases(), kept=True)
    assert state.evict() == 0
    assert len(state.by_case) == 4
    state.copied()  # PostgreSQL is back and has copied a snapshot
    assert state.evict() == 3
    assert state.cold


def test_forwarded_submissions_leave_the_snapshot_and_the_case_store_alone() -> None:
    """Submissions of another partition's cases, forwarded amid this partition's own: the
    snapshot holds this partition's cases only, a take-over from it decides as the live state,
    and a state that keeps few cases in memory asks its case store for none of the others."""
    ours = {f"XF-{n}" for n in range(4)}

    def home(case_id: str) -> int:
        return 0 if case_id in ours else 1

    live, log = (
        PartitionState(OFFICERS, VERIFIER, partition_of=home, hot_cases=1, suite=SUITE),
        Log(),
    )
    theirs = [record("register", f"ZZ-{n}") for n in range(4)]
    own = [record("register", case_id) for case_id in sorted(ours)]
    mixed = [value for pair in zip(theirs, own, strict=True) for value in pair]
    decisions = log.batch(live, mixed, snapshot=True)
    assert [d.forward.partition if d.forward else None for d in decisions] == [1, None] * 4
    assert {key for key, _ in log.snapshot} - {HEAD_KEY} <= {c.encode() for c in ours} | {
        chunk_key(c, 0) for c in ours
    }
    assert live.known_cases() == 4
    from_snapshot = taken_over(log)
    assert from_snapshot.cases == live.cases
    assert from_snapshot.outcomes == live.outcomes

    live.copied()  # the case store copied the snapshot: unchanged cases may go
    assert live.evict() == 3
    named = [n for n in (attribution(v) for v in [*theirs, record("accept", "XF-0")]) if n]
    cases, submissions = live.to_load(named)
    assert cases <= {"XF-0"}
    assert not {json.loads(v)["submission_id"] for v in theirs} & {str(s) for s in submissions}
