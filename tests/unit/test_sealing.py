"""Sealing an event's personal data, over every event type that has any (issue 13): nothing
readable is left, each person is one subject, the hash covers the ciphertext, and opening gives
back exactly what was sealed, or says erased."""

import base64
import json
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.decide import fold
from events.errors import RejectionCode
from events.hashing import GENESIS_HASH
from events.lifecycles import EVENT_PAYLOADS, LIFECYCLES
from events.model import Event
from events.privacy import MASK, mask_personal, personal_fields
from events.sealed import ERASED, is_sealed, sealed_values, subjects_in
from events.upcasting import typed_payload
from services.privacy.cipher import CIPHER_ALG, KEY_BYTES, MasterKey, MasterKeyError, SealError
from services.privacy.sealing import Sealer, open_payload
from tests.signing import SUITE
from tests.unit.domain.support import (
    PETITION_OFFICER,
    PRIVACY_OFFICER,
    REGISTER_COMPLAINT,
    Action,
    china,
    example,
    example_payload,
    refuse,
    take,
)

PERSON = {
    "name": "欧阳明远",
    "id_number": "44200019850312461X",
    "phone": "13922334455",
    "address": "大涌镇安堂村十二巷3号",
}
"""Values long enough never to turn up by chance in base64, a UUID or a hash."""


def _submission_of(event_type: str) -> tuple[str, str]:
    for lifecycle in LIFECYCLES.values():
        for step in lifecycle.steps:
            if step.event == event_type:
                return str(lifecycle.case_type), step.submission
    raise LookupError(event_type)


def _payload(event_type: str) -> dict[str, Any]:
    """The step's example payload with every person filled in completely."""
    payload = example_payload(_submission_of(event_type)[1])
    for key, value in list(payload.items()):
        if isinstance(value, dict) and "name" in value and "is_organisation" not in value:
            payload[key] = dict(PERSON)
        elif (
            isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]
        ):
            payload[key] = [dict(PERSON, name=f"{PERSON['name']}{i}") for i in range(len(value))]
    model = EVENT_PAYLOADS[event_type]
    dumped: dict[str, Any] = model.model_validate(payload).model_dump(mode="json")
    return dumped


def _event(event_type: str) -> Event:
    case_type, _ = _submission_of(event_type)
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "case_id": "CASE-2020-0001",
        "case_type": case_type,
        "version": 1,
        "type": event_type,
        "occurred_at": datetime(2020, 3, 4, tzinfo=UTC),
        "recorded_at": datetime(2020, 3, 4, tzinfo=UTC),
        "actor": {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"},
        "department": "信访办",
        "submission_id": uuid.uuid4(),
        "correlation_id": uuid.uuid4(),
        "causation_id": uuid.uuid4(),
        "payload": _payload(event_type),
        "prev_hash": GENESIS_HASH,
        "hash": GENESIS_HASH,
    }
    event = Event.model_validate(fields)
    return event.model_copy(update={"hash": event.computed_hash(suite=SUITE)})


PERSONAL = sorted(t for t in EVENT_PAYLOADS if personal_fields(t, _payload(t)))


def test_the_event_types_with_personal_data_are_the_expected_ones() -> None:
    """The marks find every person, party and consulted body: a payload model that gains one
    must show up here."""
    assert PERSONAL == [
        "complaint.registered",
        "disclosure.registered",
        "disclosure.third_party_consulted",
        "enforcement.source_registered",
        "mediation.accepted",
        "mediation.application_registered",
        "petition.registered",
    ]


@pytest.mark.parametrize("event_type", PERSONAL)
def test_nothing_personal_is_left_readable_and_each_holder_is_one_subject(event_type: str) -> None:
    event = _event(event_type)
    personal = personal_fields(event_type, event.payload)
    sealer = Sealer(suite=SUITE)
    sealed = sealer.seal(event)
    stored = sealed.model_dump_json()
    for field in personal:
        assert field.value not in stored
    found = sealed_values(sealed.payload)
    assert [where for where, _ in found] == [field.where for field in personal]
    holders = {field.holder for field in personal}
    assert len(subjects_in(sealed.payload)) == len(holders)
    keys = sealer.take()
    assert {k.subject for k in keys} == subjects_in(sealed.payload)
    assert all(
        k.case_id == event.case_id and len(k.key) == KEY_BYTES[CIPHER_ALG[SUITE]] for k in keys
    )
    # The hash covers what is stored, the ciphertext; everything else is unchanged.
    assert sealed.hash == sealed.computed_hash(suite=SUITE) != event.hash
    assert sealed.model_dump(exclude={"payload", "hash"}) == event.model_dump(
        exclude={"payload", "hash"}
    )
    # Folding and masking read it without any key.
    typed_payload(sealed)
    masked = mask_personal(event_type, sealed.schema_version, sealed.payload)
    assert masked.personal
    assert all(field.value not in json.dumps(masked.payload) for field in personal)


@pytest.mark.parametrize("event_type", PERSONAL)
def test_opening_gives_back_exactly_what_was_sealed_or_erased(event_type: str) -> None:
    event = _event(event_type)
    sealer = Sealer(suite=SUITE)
    sealed = sealer.seal(event)
    keys: dict[str, bytes | None] = {k.subject: k.key for k in sealer.take()}
    args = (sealed.case_id, str(sealed.event_id))
    assert open_payload(*args, sealed.payload, keys) == event.payload
    erased_one = sorted(keys)[0]
    partly = open_payload(*args, sealed.payload, {**keys, erased_one: None})
    for where, value in sealed_values(sealed.payload):
        shown: Any = partly
        for part in where:
            shown = shown[part]
        if value["subject"] == erased_one:
            assert shown == ERASED
        else:
            assert shown not in (ERASED, MASK)
    assert ERASED in json.dumps(partly, ensure_ascii=False)
    # Unknown subjects (no key store, or a forged subject) read as masked, never wrong.
    assert MASK in json.dumps(open_payload(*args, sealed.payload, {}))


def test_a_sealed_value_moved_elsewhere_does_not_open() -> None:
    event = _event("petition.registered")
    two = [dict(PERSON), dict(PERSON, name="司徒慧琳")]
    event = event.model_copy(update={"payload": {**event.payload, "petitioners": two}})
    sealer = Sealer(suite=SUITE)
    sealed = sealer.seal(event)
    keys: dict[str, bytes | None] = {k.subject: k.key for k in sealer.take()}
    assert len(keys) == 2
    first, second = sealed.payload["petitioners"][0], sealed.payload["petitioners"][1]
    swapped = {**first, "name": first["phone"]}  # same subject, another place
    moved = {**sealed.payload, "petitioners": [swapped, second]}
    opened = open_payload(sealed.case_id, str(sealed.event_id), moved, keys)
    assert opened["petitioners"][0]["name"] == MASK
    other_event = open_payload(sealed.case_id, str(uuid.uuid4()), sealed.payload, keys)
    assert other_event["petitioners"][0]["name"] == MASK


def test_events_without_personal_data_are_left_as_they_are() -> None:
    event = _event("petition.accepted") if "petition.accepted" in EVENT_PAYLOADS else None
    assert event is not None
    sealer = Sealer(suite=SUITE)
    assert sealer.seal(event) is event
    assert sealer.take() == []


def test_a_sealed_value_is_recognised_only_in_its_exact_shape() -> None:
    assert is_sealed({"alg": "A256GCM", "subject": "s", "ciphertext": "c"})
    assert not is_sealed({"alg": "A256GCM", "subject": "s"})
    assert not is_sealed({"alg": "A256GCM", "subject": "s", "ciphertext": "c", "x": 1})
    assert not is_sealed("A256GCM")


def test_the_master_key_wraps_each_key_for_its_subject_only(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    master = MasterKey.load(path, create=True, suite=SUITE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey.load(path, suite=SUITE).key_id == master.key_id  # made once, then read
    wrapped = master.wrap("subject-a", b"k" * 32)
    assert master.unwrap("subject-a", wrapped) == b"k" * 32
    with pytest.raises(SealError):
        master.unwrap("subject-b", wrapped)
    other = MasterKey(b"x" * 32, suite=SUITE)
    with pytest.raises(SealError):
        other.unwrap("subject-a", wrapped)


@pytest.mark.parametrize("content", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_an_unusable_master_key_file_is_refused_with_its_path(tmp_path: Path, content: str) -> None:
    path = tmp_path / "master.key"
    path.write_text(content)
    with pytest.raises(MasterKeyError, match=str(path)):
        MasterKey.load(path, suite=SUITE)
    with pytest.raises(MasterKeyError, match="infra up"):
        MasterKey.load(tmp_path / "missing.key", suite=SUITE)


def test_an_erasure_names_subjects_of_its_own_case_each_once_and_not_twice_over() -> None:
    """The record says exactly whose keys went: the decider knows the case's subjects from its
    sealed events (it never opens them)."""
    _, registered = take(None, REGISTER_COMPLAINT)
    sealed = Sealer(suite=SUITE).seal(registered)
    state = fold([sealed])
    assert state is not None
    (subject,) = state.subjects
    stranger = str(uuid.uuid4())
    at = china(2020, 9, 25)

    def erasure(*subjects: str) -> Action:
        return example("case.erase_personal_data", PRIVACY_OFFICER, at, subjects=list(subjects))

    refuse(state, erasure(stranger), RejectionCode.INVALID_PAYLOAD, stranger, "not data subjects")
    refuse(state, erasure(subject, subject), RejectionCode.INVALID_PAYLOAD, "named twice")
    refuse(
        state,
        Action("case.erase_personal_data", PETITION_OFFICER, at, erasure(subject).payload),
        RejectionCode.FORBIDDEN_ROLE,
    )
    after, event = take(state, erasure(subject))
    assert event.type == "case.personal_data_erased"
    assert after.erased_subjects == {subject}
    assert after.status == state.status  # erasing changes nothing of the case's course
    refuse(after, erasure(subject), RejectionCode.ILLEGAL_TRANSITION, "already erased")
