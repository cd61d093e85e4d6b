"""Sealing an event's personal data as the decider appends it, and opening it for a reader.

The decider seals (``Sealer``): each object of a payload that holds personal values (a person,
a party, a consulted body) is one data subject, with a new id and a new key; each of its
personal values becomes a sealed value. The event is then hashed again: the chain covers the
ciphertext, so it still verifies once a key is destroyed. The new keys must be in the key store
before the event is appended (the decider puts them there before its transaction commits).

The query service opens (``open_payload``) for readers who may see personal data: a value whose
key is destroyed reads as ``ERASED``; one whose subject the key store never knew, or that does
not open, as ``MASK`` (it is counted, never shown wrong).
"""

import uuid
from collections.abc import Mapping
from typing import Any

from events.model import Event
from events.privacy import MASK, personal_fields, pointer_text
from events.sealed import (
    ERASED,
    Pointer,
    may_hold_sealed,
    replaced,
    sealed_values,
    subjects_in,
)
from events.suite import Suite
from services.privacy.cipher import (
    CIPHER_ALG,
    KEY_BYTES,
    SealError,
    associated_data,
    new_subject_key,
    open_value,
    seal_value,
)
from services.privacy.keystore import KeyStore, SubjectKey


class Sealer:
    """Seals events, keeping the keys it made until the decider has stored them."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.pending: list[SubjectKey] = []

    def seal(self, event: Event) -> Event:
        if not may_hold_sealed(event.type):
            return event
        fields = personal_fields(event.type, event.payload)
        if not fields:
            return event
        subjects: dict[Pointer, SubjectKey] = {}
        values: dict[Pointer, Any] = {}
        alg = CIPHER_ALG[self.suite]
        for field in fields:
            subject = subjects.get(field.holder)
            if subject is None:
                subject = SubjectKey(str(uuid.uuid4()), event.case_id, new_subject_key(alg))
                subjects[field.holder] = subject
            aad = associated_data(
                event.case_id, str(event.event_id), pointer_text(field.where), subject.subject
            )
            values[field.where] = {
                "alg": alg,
                "subject": subject.subject,
                "ciphertext": seal_value(subject.key, field.value, aad, alg),
            }
        self.pending.extend(subjects.values())
        sealed = event.model_copy(update={"payload": replaced(event.payload, values)})
        return sealed.model_copy(update={"hash": sealed.computed_hash(self.suite)})

    def take(self) -> list[SubjectKey]:
        taken, self.pending = self.pending, []
        return taken

    def forget_since(self, mark: int) -> None:
        """Forget the keys made since ``len(pending)`` was ``mark`` (a step refused after all)."""
        del self.pending[mark:]

    def drop(self) -> None:
        self.pending.clear()


def open_payload(
    case_id: str, event_id: str, payload: dict[str, Any], keys: Mapping[str, bytes | None]
) -> dict[str, Any]:
    """The stored payload with each sealed value opened with its subject's key from ``keys``
    (None: destroyed, shown as ``ERASED``; absent or not opening: ``MASK``)."""
    opened: dict[Pointer, Any] = {}
    for where, value in sealed_values(payload):
        subject = str(value.get("subject"))
        key = keys.get(subject, b"")
        if key is None:
            opened[where] = ERASED
            continue
        aad = associated_data(case_id, event_id, pointer_text(where), subject)
        try:
            alg = value.get("alg")
            if alg not in KEY_BYTES or not key:
                raise SealError(f"cannot open {alg!r} for subject {subject}")
            opened[where] = open_value(key, str(value["ciphertext"]), aad, str(alg))
        except SealError:
            opened[where] = MASK
    result: dict[str, Any] = replaced(payload, opened)
    return result


async def opened_steps(
    case_id: str, steps: list[dict[str, Any]], keys: KeyStore | None
) -> list[dict[str, Any]]:
    """A case's steps (audit-trail rows) with every sealed value opened (``open_payload``);
    without a key store, every sealed value reads as ``MASK``."""
    subjects = set().union(*(subjects_in(step["payload"]) for step in steps))
    found = await keys.get(subjects) if keys is not None and subjects else {}
    return [
        {**step, "payload": open_payload(case_id, str(step["event_id"]), step["payload"], found)}
        for step in steps
    ]
