"""Schema evolution: a version-1 complaint.registered still folds, and its stored hash verifies."""

import uuid
from typing import Any

import pytest

from events.decide import evolve, fold
from events.hashing import GENESIS_HASH, chain_hash
from events.model import Event
from events.payloads import ComplaintRegistered
from events.upcasting import CURRENT_VERSIONS, typed_payload, upcast
from tests.unit.domain.support import (
    CASE_ID,
    PETITION_OFFICER,
    XF,
    accepted,
    actor,
    china,
    example_payload,
    verify_chain,
)

V1_PAYLOAD = {"channel": "phone", "subject": "餐馆油烟扰民", "complainant": "王五 13800000000"}


def v1_registered(payload: dict[str, Any] = V1_PAYLOAD) -> Event:
    """A complaint.registered as the old code stored it: schema_version 1, hashed as stored."""
    submission_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid5(submission_id, "0")),
        "case_id": CASE_ID,
        "case_type": "complaint",
        "version": 1,
        "type": "complaint.registered",
        "schema_version": 1,
        "occurred_at": "2019-11-04T01:30:00Z",
        "recorded_at": "2019-11-04T01:31:00Z",
        "actor": {"officer_id": PETITION_OFFICER, "role": "officer", "department": XF},
        "department": XF,
        "submission_id": str(submission_id),
        "correlation_id": str(submission_id),
        "causation_id": str(submission_id),
        "payload": payload,
        "prev_hash": GENESIS_HASH,
        "hash": GENESIS_HASH,
    }
    stored = Event.model_validate(fields).model_dump(mode="json")  # the JSON on the log
    return Event.model_validate({**stored, "hash": chain_hash(stored)})


def test_a_version_1_event_still_folds_with_its_payload_upcast() -> None:
    event = v1_registered()
    state = evolve(None, event)
    assert state.status == "registered"
    assert state.version == 1
    assert state.owner_department == XF
    assert state.last_hash == event.hash
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
    assert typed.complainant.name == "王五"
    assert typed.complainant.phone == "13800000000"
    assert typed.complainant.address is None
    # the event itself is never rewritten
    assert event.payload["complainant"] == "王五 13800000000"
    assert event.schema_version == 1


def test_the_stored_hash_of_a_version_1_event_still_verifies() -> None:
    event = v1_registered()
    assert event.computed_hash() == event.hash
    assert verify_chain([event])
    stored = Event.model_validate_json(event.model_dump_json())
    assert stored.computed_hash() == event.hash
    # the hash covers the stored v1 form, not the upcast one
    upcast_form = event.model_copy(
        update={"payload": upcast(event.type, 1, dict(event.payload)), "schema_version": 2}
    )
    assert upcast_form.computed_hash() != event.hash


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


def test_new_registrations_are_written_in_schema_version_2() -> None:
    assert CURRENT_VERSIONS["complaint.registered"] == 2
    _, event = accepted(
        None,
        "complaint.register",
        example_payload("complaint.register", complainant={"name": "王五", "phone": "13800000000"}),
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 24),
    )
    assert event.schema_version == 2
    assert event.payload["complainant"]["name"] == "王五"
    typed = typed_payload(event)
    assert isinstance(typed, ComplaintRegistered)
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
    assert typed.complainant.model_dump(exclude_none=True) == person


def test_a_payload_newer_than_the_code_is_refused() -> None:
    with pytest.raises(ValueError, match=r"complaint\.registered schema_version 3 is newer"):
        upcast("complaint.registered", 3, dict(V1_PAYLOAD))
