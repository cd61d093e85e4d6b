"""The petition lifecycle as pure functions: decide and evolve."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from events.errors import Rejection, RejectionCode
from events.hashing import GENESIS_HASH
from events.lifecycle import CaseState, decide, evolve
from events.model import SUBMISSION, AcceptPetition, Event, RegisterPetition

NOW = datetime(2020, 3, 5, 2, 0, tzinfo=UTC)
ACTOR = {"officer_id": "DY-XF-01", "role": "petition_officer", "department": "信访办"}


def register(case_id: str = "XF-1", **extra: object) -> RegisterPetition:
    body = {
        "type": "petition.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-04T09:30:00+08:00",
        "payload": {"channel": "visit", "persons": 3, "summary": "噪音扰民", "petitioner": "张三"},
        **extra,
    }
    submission = SUBMISSION.validate_python(body)
    assert isinstance(submission, RegisterPetition)
    return submission


def accept(case_id: str = "XF-1", **extra: object) -> AcceptPetition:
    body = {
        "type": "petition.accept",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-06T10:00:00+08:00",
        **extra,
    }
    submission = SUBMISSION.validate_python(body)
    assert isinstance(submission, AcceptPetition)
    return submission


def fold(events: tuple[Event, ...], state: CaseState | None = None) -> CaseState:
    for event in events:
        state = evolve(state, event)
    assert state is not None
    return state


def decided(
    state: CaseState | None, submission: RegisterPetition | AcceptPetition
) -> tuple[Event, ...]:
    result = decide(state, submission, NOW)
    assert not isinstance(result, Rejection), result
    return result


def test_register_opens_a_case_at_version_1() -> None:
    submission = register()
    (event,) = decided(None, submission)
    assert event.type == "petition.registered"
    assert event.version == 1
    assert event.prev_hash == GENESIS_HASH
    assert event.hash == event.computed_hash()
    assert event.occurred_at == datetime(2020, 3, 4, 1, 30, tzinfo=UTC)  # normalised to UTC
    assert event.recorded_at == NOW
    assert event.submission_id == submission.submission_id
    assert event.payload["channel"] == "visit"
    state = evolve(None, event)
    assert (state.status, state.version, state.department) == ("registered", 1, "信访办")


def test_accept_follows_register_and_chains_the_hash() -> None:
    state = fold(decided(None, register()))
    (event,) = decided(state, accept(expected_version=1))
    assert (event.type, event.version) == ("petition.accepted", 2)
    assert event.prev_hash == state.last_hash
    assert fold((event,), state).status == "accepted"


def test_event_ids_derive_from_the_submission() -> None:
    submission = register()
    assert decided(None, submission)[0].event_id == decided(None, submission)[0].event_id


@pytest.mark.parametrize(
    ("history", "submission", "code"),
    [
        ([], accept(), RejectionCode.UNKNOWN_CASE),
        ([register()], register(), RejectionCode.CASE_EXISTS),
        ([register()], accept(expected_version=0), RejectionCode.VERSION_CONFLICT),
        ([register(), accept()], accept(), RejectionCode.ILLEGAL_TRANSITION),
        ([], register(expected_version=3), RejectionCode.VERSION_CONFLICT),
    ],
    ids=["accept-unknown", "register-twice", "stale-version", "accept-twice", "new-case-version"],
)
def test_rejections_carry_a_code_and_a_message(
    history: list[RegisterPetition | AcceptPetition],
    submission: RegisterPetition | AcceptPetition,
    code: RejectionCode,
) -> None:
    state: CaseState | None = None
    for earlier in history:
        state = fold(decided(state, earlier), state)
    result = decide(state, submission, NOW)
    assert isinstance(result, Rejection)
    assert result.code is code
    assert "XF-1" in result.message or "accept" in result.message


def test_tampering_with_an_event_breaks_its_hash() -> None:
    (event,) = decided(None, register())
    altered = event.model_copy(update={"occurred_at": event.occurred_at + timedelta(days=1)})
    assert altered.computed_hash() != event.hash


def test_hash_does_not_depend_on_the_offset_the_time_was_given_in() -> None:
    submission = register()
    shifted = submission.model_copy(
        update={"occurred_at": submission.occurred_at.astimezone(timezone(timedelta(hours=-5)))}
    )
    reparsed = SUBMISSION.validate_json(shifted.model_dump_json())
    assert decided(None, reparsed)[0].hash == decided(None, submission)[0].hash


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"case_id": "bad id with spaces"}, "case_id"),
        ({"occurred_at": "2020-03-04T09:30:00"}, "occurred_at"),  # no timezone
        ({"type": "petition.teleport"}, "type"),
        ({"payload": {"channel": "pigeon", "persons": 1, "summary": "x"}}, "channel"),
        ({"payload": {"channel": "visit", "persons": 0, "summary": "x"}}, "persons"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_submissions_fail_validation_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    body = register().model_dump(mode="json") | change
    with pytest.raises(ValueError, match=field):
        SUBMISSION.validate_python(body)
