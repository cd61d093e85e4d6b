"""The decider's per-partition logic, without Kafka: idempotency, staging, bad records."""

import json
import uuid
import zlib
from datetime import UTC, datetime

import pytest

from events.errors import RejectionCode
from events.model import Event
from services.adapters.kafka import partitioner
from services.decider.officers import load_officers
from services.decider.partition import Decision, Forward, PartitionState
from services.demo import OFFICERS_FILE
from services.privacy.sealing import Sealer
from tests.e2e.test_petition_flow import register_body
from tests.signing import SUITE, VERIFIER, signed

NOW = datetime(2020, 3, 5, 2, 0, tzinfo=UTC)
ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
OFFICERS = load_officers(OFFICERS_FILE)


def record(kind: str, case_id: str = "XF-7", submission_id: str | None = None) -> bytes:
    body: dict[str, object] = {
        "type": f"petition.{kind}",
        "submission_id": submission_id or str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-04T09:30:00+08:00",
    }
    if kind == "register":
        body["payload"] = {"channel": "online", "persons": 1, "summary": "咨询"}
    return json.dumps(signed(body)).encode()


def test_a_resent_submission_gets_the_original_outcome_and_no_events() -> None:
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    value = record("register")
    first = state.decide_record(value, NOW)
    again_in_same_batch = state.decide_record(value, NOW)
    state.commit()
    again_later = state.decide_record(value, NOW)
    assert len(first.events) == 1
    assert again_in_same_batch.events == again_later.events == ()
    assert again_in_same_batch.outcome == again_later.outcome == first.outcome


def test_aborted_batch_leaves_no_trace() -> None:
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    state.decide_record(record("register"), NOW)
    state.abort()
    assert state.cases == {}
    rejected = state.decide_record(record("accept"), NOW)
    assert rejected.outcome is not None
    assert rejected.outcome.code is RejectionCode.UNKNOWN_CASE


def test_state_rebuilt_from_the_log_knows_cases_and_submissions() -> None:
    live = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    register_value = record("register")
    decided = live.decide_record(register_value, NOW)
    live.commit()

    rebuilt = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    for event in decided.events:
        rebuilt.replay_event(Event.model_validate_json(event.model_dump_json()))
    assert rebuilt.cases == live.cases
    assert rebuilt.decide_record(register_value, NOW).outcome == decided.outcome
    accepted = rebuilt.decide_record(record("accept"), NOW)
    assert accepted.outcome is not None
    assert accepted.outcome.version == 2


def test_rebuilt_outcome_is_the_original_whichever_topic_is_read_first() -> None:
    live = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    decided = live.decide_record(record("register"), NOW)
    assert decided.outcome is not None
    (event,) = decided.events
    outcome_first, events_first = (
        PartitionState(OFFICERS, VERIFIER, suite=SUITE),
        PartitionState(OFFICERS, VERIFIER, suite=SUITE),
    )
    outcome_first.replay_outcome(decided.outcome)
    outcome_first.replay_event(event)
    events_first.replay_event(event)
    events_first.replay_outcome(decided.outcome)
    assert (
        outcome_first.outcomes
        == events_first.outcomes
        == {decided.outcome.submission_id: decided.outcome.model_dump_json().encode()}
    )


def test_invalid_but_attributable_submission_is_rejected_with_invalid_payload() -> None:
    body = json.loads(record("register"))
    body["payload"]["persons"] = -1
    decision = PartitionState(OFFICERS, VERIFIER, suite=SUITE).decide_record(
        json.dumps(body).encode(), NOW
    )
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.persons" in decision.outcome.message
    assert str(decision.outcome.submission_id) == body["submission_id"]


def test_unreadable_record_is_a_dead_letter() -> None:
    decision = PartitionState(OFFICERS, VERIFIER, suite=SUITE).decide_record(b"\xff not json", NOW)
    assert decision.outcome is None
    assert decision.dead_letter_reason


def misplaced_state(partition: int = 0, home: int = 2) -> PartitionState:
    """Partition ``partition``'s state, for which every case lives on ``home``."""
    return PartitionState(
        OFFICERS, VERIFIER, partition=partition, partition_of=lambda _: home, suite=SUITE
    )


@pytest.mark.parametrize("key", [b"XF-7", None])
def test_a_submission_on_another_partition_is_forwarded_and_leaves_nothing_here(
    key: bytes | None,
) -> None:
    """A client hashing keys otherwise (librdkafka: CRC32) sends a case's submissions to a
    partition the case does not live on: deciding them there would split its history over
    two deciders. They go on to the case's partition, and this one keeps no trace."""
    state = misplaced_state()
    decision = state.decide_record(record("register"), NOW, key=key)
    assert decision == Decision(outcome=None, forward=Forward(partition=2, case_id="XF-7"))
    state.commit(snapshotted=True)
    assert (state.cases, state.by_case, state.outcomes, state.changed) == ({}, {}, {}, {})
    assert state.snapshot() == []
    assert state.known_cases() == 0


def test_who_vouched_is_checked_where_the_case_lives_not_before_forwarding() -> None:
    """Unsigned or not, it is forwarded: its case's partition answers it, where the department
    waits for the outcome, as it answers every other submission of the case."""
    body = json.loads(record("register"))
    del body["signature"]
    state = misplaced_state()
    forwarded = state.decide_record(json.dumps(body).encode(), NOW, key=b"XF-7")
    assert forwarded.forward == Forward(2, "XF-7")
    home = misplaced_state(partition=2)
    refused = home.decide_record(json.dumps(body).encode(), NOW, b"XF-7", forwarded_from="0@5")
    assert refused.outcome is not None
    assert refused.outcome.code is RejectionCode.UNSIGNED_SUBMISSION


def test_a_forwarded_submission_on_its_case_s_partition_is_decided_there() -> None:
    home = misplaced_state(partition=2)
    decision = home.decide_record(record("register"), NOW, b"XF-7", forwarded_from="0@5")
    assert decision.forward is None
    assert len(decision.events) == 1


def test_a_forwarded_submission_still_misplaced_is_refused_never_forwarded_again() -> None:
    """Two deciders that disagree on the partition count would pass a record back and forth
    for ever: the second forward is refused with its own code, and not remembered (the
    submission_id stays free for when they agree)."""
    state = misplaced_state()
    value = record("register")
    decision = state.decide_record(value, NOW, key=b"XF-7", forwarded_from="1@42")
    assert decision.forward is None
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.WRONG_PARTITION
    assert "提交转发后仍不在" in decision.outcome.message
    assert "belongs on partition 2, not 0" in decision.outcome.message
    assert "from 1@42" in decision.outcome.message
    state.commit()
    state.replay_outcome(decision.outcome)
    assert (state.outcomes, state.by_case) == ({}, {})
    home = misplaced_state(partition=2)
    assert len(home.decide_record(value, NOW, key=b"XF-7").events) == 1


def test_only_a_well_formed_submission_is_forwarded() -> None:
    """What does not parse as a submission (or is too large, or keyed by another case) is
    refused or dead-lettered where it arrived, as on its own partition: no decider reads it
    twice."""
    state = misplaced_state()
    invalid = json.loads(record("register"))
    invalid["payload"]["persons"] = -1
    oversize = json.loads(record("register"))
    oversize["payload"]["summary"] = "长" * 30_000
    for value in (json.dumps(invalid).encode(), json.dumps(oversize).encode()):
        decision = state.decide_record(value, NOW, key=b"XF-7")
        assert decision.forward is None
        assert decision.outcome is not None
        assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    unreadable = state.decide_record(b"\xff not json", NOW, key=b"XF-7")
    assert (unreadable.forward, unreadable.outcome) == (None, None)
    assert unreadable.dead_letter_reason
    other_key = state.decide_record(record("register"), NOW, key=b"someone-else")
    assert other_key.forward is None
    assert other_key.outcome is not None
    assert "key must be its case_id" in other_key.outcome.message


def test_a_record_whose_key_is_not_its_case_is_rejected() -> None:
    state = PartitionState(
        OFFICERS, VERIFIER, partition=0, partition_of=lambda case_id: 0, suite=SUITE
    )
    decision = state.decide_record(record("register"), NOW, key=b"someone-else")
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "key must be its case_id" in decision.outcome.message
    right = state.decide_record(record("register"), NOW, key=b"XF-7")
    assert len(right.events) == 1


def test_a_client_partitioning_by_crc32_gets_each_submission_decided_once_in_order() -> None:
    """Three partitions as the runtime drives them, in memory: a librdkafka client (CRC32 of
    the key) publishes every step of many cases, and re-sends half of them; each partition's
    records are decided in order, forwards appended to their partition's tail. Every step is
    accepted once, in the order sent, on its case's partition; each re-send gets the original
    outcome; no partition keeps anything of a case it does not own."""
    count = 3
    home = partitioner(count)
    states = [
        PartitionState(OFFICERS, VERIFIER, partition=p, partition_of=home, suite=SUITE)
        for p in range(count)
    ]
    topic: list[list[tuple[bytes, bytes, str | None]]] = [[] for _ in range(count)]
    cases = [f"XF-{n}" for n in range(30)]
    sent = []
    for case_id in cases:
        steps = [record("register", case_id), record("accept", case_id)]
        sent += [*steps, steps[0]] if int(case_id[3:]) % 2 else steps
    for value in sent:
        case_id = json.loads(value)["case_id"]
        topic[zlib.crc32(case_id.encode()) % count].append((case_id.encode(), value, None))
    assert sum(home(c) != zlib.crc32(c.encode()) % count for c in cases) >= 10
    events: list[Event] = []
    outcomes: dict[str, list[str]] = {}
    read = [0] * count
    while any(read[p] < len(topic[p]) for p in range(count)):
        for p, state in enumerate(states):
            while read[p] < len(topic[p]):
                key, value, forwarded_from = topic[p][read[p]]
                decision = state.decide_record(value, NOW, key, forwarded_from)
                if decision.forward is not None:
                    assert decision.forward.case_id.encode() == key
                    topic[decision.forward.partition].append((key, value, f"{p}@{read[p]}"))
                else:
                    assert decision.outcome is not None
                    assert home(decision.outcome.case_id) == p
                    answer = f"{decision.outcome.status} v{decision.outcome.version}"
                    outcomes.setdefault(str(decision.outcome.submission_id), []).append(answer)
                    events += decision.events
                read[p] += 1
            state.commit()
    firsts = [json.loads(v)["submission_id"] for v in dict.fromkeys(sent)]
    assert set(outcomes) == set(firsts)
    for case_id in cases:
        written = [e for e in events if e.case_id == case_id]
        assert [(e.version, e.type) for e in written] == [
            (1, "petition.registered"),
            (2, "petition.accepted"),
        ]
    resent = {json.loads(v)["submission_id"] for v in sent if sent.count(v) == 2}
    assert len(resent) == 15
    for submission_id in resent:
        assert outcomes[submission_id] == ["accepted v1", "accepted v1"]
    for p, state in enumerate(states):
        assert {home(case_id) for case_id in state.by_case} <= {p}


HOSTILE = [
    b"[" * 200_000,
    b"[" * 5000 + b"]" * 5000,
    b'{"type": "\xff\xfe"}',
    b"\x00" * 64,
    b"9" * 100_000,
    b'{"submission_id": 1e999999}',
    b"[]",
    b"",
    None,
    b'"' + b"x" * 1_000_000 + b'"',
    b'{"submission_id": "6035ac02-77a6-4060-bb4c-2a6045c5c280", "case_id": "' + b"C" * 5000 + b'"}',
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:30])
def test_any_bytes_get_an_answer_and_leave_no_trace(value: bytes | None) -> None:
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    decision = state.decide_record(value, NOW, key=b"XF-7")
    assert decision.outcome is None
    assert decision.dead_letter_reason
    assert len(decision.dead_letter_reason) <= 2000
    assert state.staged_cases == {}
    assert state.staged_outcomes == {}


def test_a_record_too_large_is_rejected_when_attributable() -> None:
    body = json.loads(record("register"))
    body["payload"]["summary"] = "长" * 30_000
    decision = PartitionState(OFFICERS, VERIFIER, suite=SUITE).decide_record(
        json.dumps(body).encode(), NOW
    )
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "at most 65536 bytes" in decision.outcome.message


def test_a_failure_inside_decide_is_the_records_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong while deciding one record (here: a bug in a lifecycle), that record
    is rejected and nothing it staged survives; the next record is decided normally."""
    import services.decider.partition as partition

    def broken(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    monkeypatch.setattr(partition, "decide_and_fold", broken)
    decision = state.decide_record(record("register"), NOW)
    assert decision.outcome is not None
    assert decision.outcome.status == "rejected"
    assert "RecursionError" in decision.outcome.message
    assert state.staged_cases == {}
    monkeypatch.undo()
    assert state.decide_record(record("register"), NOW).events


def test_a_refused_resend_of_an_answered_submission_keeps_its_answer() -> None:
    """An accepted submission sent again oversize (or malformed, or misplaced) is still the
    same submission: it keeps its answer, live as after a take-over."""
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    value = record("register")
    accepted = state.decide_record(value, NOW).outcome
    state.commit()
    body = json.loads(value)
    body["payload"]["summary"] = "长" * 30_000
    again = state.decide_record(json.dumps(body).encode(), NOW)
    assert again.outcome == accepted
    assert again.events == ()


def test_a_dead_letter_fits_its_topic_and_says_when_it_was_cut() -> None:
    from aiokafka import ConsumerRecord

    from services.decider.runtime import HEADROOM_BYTES, dead_letter

    def consumed(value: bytes, key: bytes | None) -> ConsumerRecord[bytes, bytes]:
        return ConsumerRecord("s", 2, 7, 0, 0, key, value, None, len(key or b""), len(value), [])

    key, value, headers = dead_letter(consumed(b"x" * 100, b"k"), "bad", 1_048_588)
    assert (key, value) == (b"k", b"x" * 100)
    assert dict(headers)["casetrail.offset"] == b"7"
    assert "casetrail.truncated_from" not in dict(headers)
    key, value, headers = dead_letter(consumed(b"y" * 1_048_000, b"K" * 5000), "bad", 1_048_588)
    assert key is None, "a key too large to keep: the coordinates name the original"
    assert len(value) == 1_048_588 - HEADROOM_BYTES
    assert dict(headers)["casetrail.truncated_from"] == b"1048000"


def test_a_forwarded_record_keeps_its_headers_and_says_where_it_arrived() -> None:
    from aiokafka import ConsumerRecord

    from services.decider.runtime import FORWARDED_FROM, forward_headers, forwarded_from

    own: list[tuple[str, bytes | None]] = [("trace", b"t-1"), ("empty", None)]
    arrived = ConsumerRecord("s", 3, 41, 0, 0, b"XF-7", b"{}", None, 4, 2, own)
    headers = forward_headers(arrived)
    assert headers == [*own, (FORWARDED_FROM, b"3@41")]
    assert forwarded_from(arrived) is None
    again = ConsumerRecord("s", 1, 9, 0, 0, b"XF-7", b"{}", None, 4, 2, headers)
    assert forwarded_from(again) == "3@41"


def _registration(case_id: str, petitioners: list[dict[str, str]]) -> bytes:
    body = register_body(case_id)
    body["payload"] |= {"persons": len(petitioners), "petitioners": petitioners}
    return json.dumps(signed(body), ensure_ascii=False).encode()


def test_a_step_too_large_once_sealed_is_refused_and_leaves_no_key() -> None:
    """Sealing makes short values long: a step naming many persons must be refused, never
    written (an event Kafka cannot take would stop the partition), and its keys forgotten
    while those of the other steps of the transaction stay."""
    state = PartitionState(
        OFFICERS, VERIFIER, sealer=Sealer(suite=SUITE), max_event_bytes=8_000, suite=SUITE
    )
    fine = state.decide_record(_registration("XF-8", [{"name": "李四"}]), NOW)
    assert len(fine.events) == 1
    many = [{"name": chr(0x4E00 + i)} for i in range(60)]  # 60 one-character names
    assert len(_registration("XF-9", many)) < 8_000
    refused = state.decide_record(_registration("XF-9", many), NOW)
    assert refused.events == ()
    assert refused.outcome is not None
    assert refused.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "once its personal data is sealed" in refused.outcome.message
    assert state.sealer is not None
    kept = state.sealer.take()
    assert [k.case_id for k in kept] == ["XF-8"]
    assert state.case("XF-9") is None
