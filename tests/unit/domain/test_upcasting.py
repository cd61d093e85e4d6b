"""Schema evolution: old complaint.registered (v1, v2) and petition.review_requested (v1) events
still fold, read in the current shape, and their stored hashes verify."""

import uuid
from typing import Any

import pytest

from events.decide import evolve, fold
from events.hashing import GENESIS_HASH, chain_hash
from events.model import Event
from events.payloads import NOT_NAMED, ComplaintRegistered, ReviewRequest
from events.upcasting import CURRENT_VERSIONS, typed_payload, upcast
from tests.signing import SUITE
from tests.unit.domain.support import (
    CASE_ID,
    CITY_XF,
    PETITION_OFFICER,
    REVIEWER,
    XF,
    accepted,
    actor,
    china,
    example_payload,
    verify_chain,
)

V1_PAYLOAD = {"channel": "phone", "subject": "餐馆油烟扰民", "complainant": "王五 13800000000"}


def stored_event(
    event_type: str,
    schema_version: int,
    payload: dict[str, Any],
    *,
    after: Event | None = None,
    at: str = "2019-11-04T01:30:00Z",
    department: str = XF,
    officer: str = PETITION_OFFICER,
) -> Event:
    """An event as older code stored it, in ``schema_version``, hashed as stored."""
    submission_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid5(submission_id, "0")),
        "case_id": CASE_ID,
        "case_type": event_type.split(".")[0],
        "version": after.version + 1 if after is not None else 1,
        "type": event_type,
        "schema_version": schema_version,
        "occurred_at": at,
        "recorded_at": at,
        "actor": {"officer_id": officer, "role": "officer", "department": department},
        "department": department,
        "submission_id": str(submission_id),
        "correlation_id": str(submission_id),
        "causation_id": str(submission_id),
        "payload": payload,
        "prev_hash": after.hash if after is not None else GENESIS_HASH,
        "hash": GENESIS_HASH,
    }
    stored = Event.model_validate(fields).model_dump(mode="json")  # the JSON on the log
    return Event.model_validate({**stored, "hash": chain_hash(stored, suite=SUITE)})


def v1_registered(payload: dict[str, Any] = V1_PAYLOAD) -> Event:
    """A complaint.registered as the first code stored it: schema_version 1."""
    return stored_event("complaint.registered", 1, payload)


def test_a_version_1_event_still_folds_with_its_payload_upcast() -> None:
    event = v1_registered()
    state = evolve(None, event)
    assert state.status == "registered"
    assert state.version == 1
    assert state.owner_department == XF
    assert state.last_hash == event.hash
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
    assert typed.complainant is not None
    assert not typed.anonymous
    assert typed.complainant.name == "王五"
    assert typed.complainant.phone == "13800000000"
    assert typed.complainant.address is None
    # the event itself is never rewritten
    assert event.payload["complainant"] == "王五 13800000000"
    assert event.schema_version == 1


def test_the_stored_hash_of_a_version_1_event_still_verifies() -> None:
    event = v1_registered()
    assert event.computed_hash(suite=SUITE) == event.hash
    assert verify_chain([event])
    stored = Event.model_validate_json(event.model_dump_json())
    assert stored.computed_hash(suite=SUITE) == event.hash
    # the hash covers the stored v1 form, not the upcast one
    upcast_form = event.model_copy(
        update={"payload": upcast(event.type, 1, dict(event.payload)), "schema_version": 2}
    )
    assert upcast_form.computed_hash(suite=SUITE) != event.hash


def test_a_case_started_in_version_1_continues_in_the_current_version() -> None:
    first = v1_registered()
    state, second = accepted(
        evolve(None, first),
        "complaint.accept",
        None,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2019, 11, 5),
    )
    assert second.prev_hash == first.hash
    assert verify_chain([first, second])
    assert fold([first, second]) == state
    assert state.status == "accepted"


def test_a_version_2_complaint_reads_as_a_named_one() -> None:
    """v2 always named its complainant; v3 says so with anonymous: false."""
    v2 = {"channel": "online", "subject": "油烟", "complainant": {"name": "王五", "phone": "138"}}
    event = stored_event("complaint.registered", 2, v2)
    assert upcast(event.type, 2, dict(event.payload)) == {**v2, "anonymous": False}
    state = evolve(None, event)
    assert not state.anonymous
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
    assert typed.complainant is not None
    assert typed.complainant.name == "王五"
    assert event.payload == v2  # stored as it was
    assert verify_chain([event])


def test_new_registrations_are_written_in_schema_version_3() -> None:
    assert CURRENT_VERSIONS["complaint.registered"] == 3
    _, event = accepted(
        None,
        "complaint.register",
        example_payload("complaint.register", complainant={"name": "王五", "phone": "13800000000"}),
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 24),
    )
    assert event.schema_version == 3
    assert event.payload["complainant"]["name"] == "王五"
    assert event.payload["anonymous"] is False
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
    assert typed.complainant is not None
    assert typed.complainant.phone == "13800000000"


def test_other_events_stay_in_schema_version_1() -> None:
    state, _ = accepted(
        None,
        "complaint.register",
        example_payload("complaint.register"),
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 24),
    )
    _, event = accepted(
        state,
        "complaint.accept",
        None,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 25),
    )
    assert event.schema_version == 1


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("王五", {"name": "王五"}),
        ("王五，13800000000", {"name": "王五", "phone": "13800000000"}),
        ("13800000000 王五", {"name": "王五", "phone": "13800000000"}),
        (
            "王五 0760-88881234 大涌镇南文村",
            {"name": "王五 大涌镇南文村", "phone": "0760-88881234"},
        ),
    ],
)
def test_upcasting_splits_the_old_free_text(text: str, person: dict[str, str]) -> None:
    event = v1_registered({**V1_PAYLOAD, "complainant": text})
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
    assert typed.complainant is not None
    assert typed.complainant.model_dump(exclude_none=True) == person


def test_a_payload_newer_than_the_code_is_refused() -> None:
    with pytest.raises(ValueError, match=r"complaint\.registered schema_version 4 is newer"):
        upcast("complaint.registered", 4, dict(V1_PAYLOAD))


def _petition_under_review_v1() -> list[Event]:
    """A petition whose review was asked under the old rule: the handling office (信访办)
    recorded the request itself, which named no reviewing body (review_requested v1)."""
    events = [
        stored_event(
            "petition.registered",
            1,
            {"channel": "visit", "persons": 2, "summary": "噪音", "petitioners": []},
        )
    ]
    for event_type, payload, at in [
        ("petition.accepted", {"note": ""}, "2019-11-05T01:30:00Z"),
        ("petition.handled", {"record": "核实"}, "2019-11-06T01:30:00Z"),
        ("petition.opinion_issued", {"opinion": "答复"}, "2019-11-07T01:30:00Z"),
        ("petition.review_requested", {"reason": "不服"}, "2019-11-20T01:30:00Z"),
    ]:
        events.append(stored_event(event_type, 1, payload, after=events[-1], at=at))
    return events


def test_a_version_1_review_request_reads_with_no_reviewing_body_named() -> None:
    events = _petition_under_review_v1()
    request = events[-1]
    assert CURRENT_VERSIONS["petition.review_requested"] == 2
    typed = typed_payload(request)
    assert isinstance(typed, ReviewRequest)
    assert (typed.reviewing_department, typed.reason) == (NOT_NAMED, "不服")
    assert request.payload == {"reason": "不服"}  # stored as it was
    assert verify_chain(events)
    state = fold(events)
    assert state is not None
    assert (state.status, state.review_level) == ("review_requested", 1)
    assert state.reviewer_department == NOT_NAMED
    # the review under way stays with the office that recorded it, as the old rule had it
    state, decided = accepted(
        state,
        "petition.decide_review",
        {"outcome": "upheld", "opinion": "维持"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2019, 12, 1),
    )
    assert decided.prev_hash == request.hash
    assert state.status == "reviewed"
    assert verify_chain([*events, decided])


def test_new_review_requests_are_written_in_schema_version_2() -> None:
    events = _petition_under_review_v1()
    state = fold(events[:-1])
    state, receipt = accepted(
        state,
        "petition.record_reply_receipt",
        {"received_on": "2019-11-08", "method": "直接送达"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2019, 11, 8),
    )
    assert receipt.schema_version == 1  # a new event type starts at 1
    _, request = accepted(
        state,
        "petition.request_review",
        {"reviewing_department": CITY_XF, "reason": "不服"},
        actor=actor(REVIEWER),
        occurred_at=china(2019, 11, 20),
    )
    assert request.schema_version == 2
    assert request.payload == {"reviewing_department": CITY_XF, "reason": "不服"}
