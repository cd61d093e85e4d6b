"""Writes tests/vectors/sealed_chain.json (and sealed_keys.json): two cases whose events hold
sealed personal values, decided from fixed inputs and sealed with fixed keys and nonces.

Run once when the envelope or the sealing rule changes on purpose:
`python -m tests.vectors.make_sealed_vectors` (and with `guomi`: guomi/, SM4-GCM and SM3).

Sealing here is the decider's (``services.privacy.sealing.Sealer``) with nothing random: the
same finder of personal values (one data subject per object that holds them), the same
associated data (``associated_data``) and AES-256-GCM from ``cryptography``, the same stored
format (base64 of nonce, ciphertext and tag). Only the subject ids, their keys and the nonces
are derived from fixed strings instead of drawn at random; production code offers no way to
choose a nonce, so this script calls AES-GCM itself. ``verify_chain.mjs --keys`` opens these
values in JavaScript; docs/privacy.md documents the format.
"""

import base64
import hashlib
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from events.decide import decide, evolve
from events.hashing import canonical_json
from events.model import Event, VouchedBy
from events.officers import Officer, Role
from events.privacy import personal_fields, pointer_text
from events.sealed import Pointer, replaced
from events.state import CaseState, Context
from events.submissions import SubmissionBase, parse_submission
from events.suite import Suite
from services.privacy.cipher import CIPHER_ALG, KEY_BYTES, NONCE_BYTES, aead, associated_data
from tests.vectors.make_hash_vectors import folder

OFFICER = Officer(
    officer_id="DY-XF-01", name="王芳", department="信访办", roles=frozenset({Role.OFFICER})
)
ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
VOUCHED = VouchedBy(key_id="c8b38bd68c3c3201", department="信访办", kind="gateway")
NAMESPACE = uuid.UUID("00000000-0000-0000-0000-000000002021")
CASES: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "TS-2021-0007": [
        (
            "complaint.register",
            {
                "channel": "hotline_12345",
                "subject": "夜间施工噪音扰民",
                "complainant": {
                    "name": "王五",
                    "phone": "13800000000",
                    "address": '大涌镇南文村3/5号 "东门"',
                },
                "respondent": "某建筑公司",
            },
            "2021-04-06T21:15:00+08:00",
        ),
        ("complaint.accept", {"note": "符合受理条件"}, "2021-04-07T09:00:00+08:00"),
    ],
    "XF-2021-0042": [
        (
            "petition.register",
            {
                "channel": "visit",
                "persons": 2,
                "summary": "厂房噪音扰民，要求整改",
                "petitioners": [
                    {"name": "李四", "phone": "13900000000", "id_number": "44200019800101001X"},
                    {"name": "赵六", "address": "大涌镇安堂村\n二巷7号"},
                ],
                "respondent": "某五金厂",
            },
            "2021-03-02T09:30:00+08:00",
        ),
        ("petition.accept", {"note": "属本机关职责范围"}, "2021-03-03T10:00:00+08:00"),
    ],
}
DESTROYED = ("XF-2021-0042", "/petitioners/1")
"""The subject whose key the vectors also show destroyed: the second petitioner (case, and the
object holding the values), so that the first petitioner of the same event still opens."""


def _fixed(label: str) -> bytes:
    return hashlib.sha256(f"CaseTrail sealed vector\n{label}".encode()).digest()


def _seal(event: Event, keys: dict[str, bytes], suite: Suite) -> Event:
    """As ``Sealer.seal``, with the subject ids, keys and nonces fixed."""
    fields = personal_fields(event.type, event.payload)
    if not fields:
        return event
    subjects: dict[Pointer, str] = {}
    values: dict[Pointer, Any] = {}
    for field in fields:
        holder = pointer_text(field.holder)
        subject = subjects.setdefault(
            field.holder, str(uuid.uuid5(NAMESPACE, f"{event.event_id}{holder}"))
        )
        alg = CIPHER_ALG[suite]
        key = keys.setdefault(subject, _fixed(f"key {subject}")[: KEY_BYTES[alg]])
        where = pointer_text(field.where)
        aad = associated_data(event.case_id, str(event.event_id), where, subject)
        nonce = _fixed(f"nonce {event.event_id}{where}")[:NONCE_BYTES]
        sealed = nonce + aead(alg, key).encrypt(nonce, field.value.encode(), aad)
        values[field.where] = {
            "alg": alg,
            "subject": subject,
            "ciphertext": base64.b64encode(sealed).decode(),
        }
    event = event.model_copy(update={"payload": replaced(event.payload, values)})
    return event.model_copy(update={"hash": event.computed_hash(suite)})


def chain(
    keys: dict[str, bytes], suite: Suite = Suite.INTERNATIONAL
) -> tuple[list[Event], list[Event]]:
    """The events as stored (sealed), and the same events as decided (in plaintext)."""
    stored: list[Event] = []
    plain: list[Event] = []
    for case_id, steps in CASES.items():
        state: CaseState | None = None
        for kind, payload, occurred_at in steps:
            index = len(stored)
            submission = parse_submission(
                {
                    "type": kind,
                    "submission_id": str(uuid.uuid5(NAMESPACE, str(index))),
                    "case_id": case_id,
                    "actor": ACTOR,
                    "occurred_at": occurred_at,
                    "payload": payload,
                }
            )
            assert isinstance(submission, SubmissionBase), submission
            recorded_at = datetime(2021, 4, 8, 1, 2, 3, index, tzinfo=UTC)
            officers = {OFFICER.officer_id: OFFICER}
            context = Context(recorded_at, officers, vouched_by=VOUCHED, suite=suite)
            result = decide(state, submission, context)
            assert isinstance(result, tuple), result
            for event in result:
                sealed = _seal(event, keys, suite)
                state = evolve(state, sealed)  # the next prev_hash is the sealed event's hash
                stored.append(sealed)
                plain.append(event)
    return stored, plain


def vectors(suite: Suite = Suite.INTERNATIONAL) -> dict[str, Any]:
    keys: dict[str, bytes] = {}
    stored, plain = chain(keys, suite)
    opened: list[dict[str, Any]] = []
    destroyed = ""
    for index, (event, decided) in enumerate(zip(stored, plain, strict=True)):
        for field in personal_fields(decided.type, decided.payload):
            where = pointer_text(field.where)
            sealed: Any = event.payload
            for part in field.where:
                sealed = sealed[part]
            opened.append(
                {
                    "event": index,
                    "event_id": str(event.event_id),
                    "pointer": where,
                    "subject": sealed["subject"],
                    "plaintext": field.value,
                }
            )
            if (event.case_id, pointer_text(field.holder)) == DESTROYED:
                destroyed = sealed["subject"]
    assert destroyed
    return {
        "about": (
            "Two cases whose personal values are sealed (docs/privacy.md), with fixed keys and"
            " nonces. Written by tests/vectors/make_sealed_vectors.py; checked by"
            " tests/unit/test_sealed_vectors.py and, in JavaScript, by verify_chain.mjs."
        ),
        "events": [
            {
                "event": event.model_dump(mode="json"),
                "canonical": canonical_json(
                    {k: v for k, v in event.model_dump(mode="json").items() if k != "hash"}
                ).decode(),
                "hash": event.hash,
            }
            for event in stored
        ],
        "keys": {subject: base64.b64encode(key).decode() for subject, key in keys.items()},
        "opened": opened,
        "opened_payloads": [event.payload for event in plain],
        "key_destroyed": {
            "subject": destroyed,
            "erased": [item["pointer"] for item in opened if item["subject"] == destroyed],
        },
    }


def keys_file(vector: dict[str, Any]) -> dict[str, str | None]:
    """The keys a reader has once the destroyed subject's key is gone (``--keys`` format)."""
    gone = vector["key_destroyed"]["subject"]
    return {subject: key for subject, key in vector["keys"].items() if subject != gone}


if __name__ == "__main__":
    suite = Suite(sys.argv[1]) if len(sys.argv) > 1 else Suite.INTERNATIONAL
    here = folder(suite)
    vector = vectors(suite)
    for name, data in (("sealed_chain.json", vector), ("sealed_keys.json", keys_file(vector))):
        path = here / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"wrote {path}")
