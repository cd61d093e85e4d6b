"""The decider's per-partition logic, without Kafka: idempotency, staging, bad records."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from events.errors import RejectionCode
from events.model import Event
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.privacy.sealing import Sealer
from tests.e2e.test_petition_flow import register_body
from tests.signing import VERIFIER, signed

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
    state = PartitionState(OFFICERS, VERIFIER)
    value = record("register")
    first = state.decide_record(value, NOW)
    again_in_same_batch = state.decide_record(value, NOW)
    state.commit()
    again_later = state.decide_record(value, NOW)
    assert len(first.events) == 1
    assert again_in_same_batch.events == again_later.events == ()
    assert again_in_same_batch.outcome == again_later.outcome == first.outcome


def test_aborted_batch_leaves_no_trace() -> None:
    state = PartitionState(OFFICERS, VERIFIER)
    state.decide_record(record("register"), NOW)
    state.abort()
    assert state.cases == {}
    rejected = state.decide_record(record("accept"), NOW)
    assert rejected.outcome is not None
    assert rejected.outcome.code is RejectionCode.UNKNOWN_CASE


def test_state_rebuilt_from_the_log_knows_cases_and_submissions() -> None:
    live = PartitionState(OFFICERS, VERIFIER)
    register_value = record("register")
    decided = live.decide_record(register_value, NOW)
    live.commit()

    rebuilt = PartitionState(OFFICERS, VERIFIER)
    for event in decided.events:
        rebuilt.replay_event(Event.model_validate_json(event.model_dump_json()))
    assert rebuilt.cases == live.cases
    assert rebuilt.decide_record(register_value, NOW).outcome == decided.outcome
    accepted = rebuilt.decide_record(record("accept"), NOW)
    assert accepted.outcome is not None
    assert accepted.outcome.version == 2


def test_rebuilt_outcome_is_the_original_whichever_topic_is_read_first() -> None:
    live = PartitionState(OFFICERS, VERIFIER)
    decided = live.decide_record(record("register"), NOW)
    assert decided.outcome is not None
    (event,) = decided.events
    outcome_first, events_first = (
        PartitionState(OFFICERS, VERIFIER),
        PartitionState(OFFICERS, VERIFIER),
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
    decision = PartitionState(OFFICERS, VERIFIER).decide_record(json.dumps(body).encode(), NOW)
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.persons" in decision.outcome.message
    assert str(decision.outcome.submission_id) == body["submission_id"]


def test_unreadable_record_is_a_dead_letter() -> None:
    decision = PartitionState(OFFICERS, VERIFIER).decide_record(b"\xff not json", NOW)
    assert decision.outcome is None
    assert decision.dead_letter_reason


def test_a_submission_on_the_wrong_partition_is_rejected_not_decided() -> None:
    """A client hashing keys differently would split a case over two partitions (and two
    deciders): the decider refuses, naming the partition the case belongs on."""
    state = PartitionState(OFFICERS, VERIFIER, partition=0, partition_of=lambda case_id: 2)
    decision = state.decide_record(record("register"), NOW, key=b"XF-7")
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "belongs on partition 2" in decision.outcome.message
    assert decision.events == ()
    assert state.staged_cases == {}


def test_a_record_whose_key_is_not_its_case_is_rejected() -> None:
    state = PartitionState(OFFICERS, VERIFIER, partition=0, partition_of=lambda case_id: 0)
    decision = state.decide_record(record("register"), NOW, key=b"someone-else")
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "key must be its case_id" in decision.outcome.message
    right = state.decide_record(record("register"), NOW, key=b"XF-7")
    assert len(right.events) == 1


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
    state = PartitionState(OFFICERS, VERIFIER)
    decision = state.decide_record(value, NOW, key=b"XF-7")
    assert decision.outcome is None
    assert decision.dead_letter_reason
    assert len(decision.dead_letter_reason) <= 2000
    assert state.staged_cases == {}
    assert state.staged_outcomes == {}


def test_a_record_too_large_is_rejected_when_attributable() -> None:
    body = json.loads(record("register"))
    body["payload"]["summary"] = "长" * 30_000
    decision = PartitionState(OFFICERS, VERIFIER).decide_record(json.dumps(body).encode(), NOW)
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.INVALID_PAYLOAD
    assert "at most 65536 bytes" in decision.outcome.message


def test_a_failure_inside_decide_is_the_records_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong while deciding one record (here: a bug in a lifecycle), that record
    is rejected and nothing it staged survives; the next record is decided normally."""
    import services.decider.partition as partition

    def broken(*_: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    state = PartitionState(OFFICERS, VERIFIER)
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
    state = PartitionState(OFFICERS, VERIFIER)
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


def _registration(case_id: str, petitioners: list[dict[str, str]]) -> bytes:
    body = register_body(case_id)
    body["payload"] |= {"persons": len(petitioners), "petitioners": petitioners}
    return json.dumps(signed(body), ensure_ascii=False).encode()


def test_a_step_too_large_once_sealed_is_refused_and_leaves_no_key() -> None:
    """Sealing makes short values long: a step naming many persons must be refused, never
    written (an event Kafka cannot take would stop the partition), and its keys forgotten
    while those of the other steps of the transaction stay."""
    state = PartitionState(OFFICERS, VERIFIER, sealer=Sealer(), max_event_bytes=8_000)
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
