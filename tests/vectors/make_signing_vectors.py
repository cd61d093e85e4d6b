"""Writes tests/vectors/signed_submission.json: a submission signed with a fixed key.

Run once when the signing rule changes on purpose: `python -m tests.vectors.make_signing_vectors`.
Ed25519 signatures are deterministic, so the same key and bytes give the same signature in any
language: ``sign_submission.mjs`` checks Node.js against these bytes, docs/signing.md shows the
same with openssl.

With `guomi`: guomi/signed_submission.json, the same document signed with a fixed SM2 key (SM3,
the default user id, DER). SM2 signatures are randomised: the tests check that the committed one
verifies, in Python and with sm-crypto-v2 (``sign_submission.mjs --suite guomi``), and that the
code writes everything else byte for byte.

With `guomi`, also guomi/sm2_der_cases.json: the committed SM2 signature in its canonical DER
encoding and in encodings every verifier must refuse (the same r and s written otherwise, or r
or s out of range), for Python and ``sign_submission.mjs --der-cases`` to agree on.
"""

import base64
import hashlib
import json
import sys
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.signing import signed_bytes
from events.suite import Suite
from services.integrity.algorithms import SM2_ORDER, SM2PrivateKey, raw_public
from services.integrity.keyring import key_id
from services.integrity.signing import sign_submission
from tests.vectors.make_hash_vectors import folder

SEED = hashlib.sha256(b"CaseTrail signing vector").digest()
DEPARTMENT = "信访办"
DOCUMENT: dict[str, Any] = {
    "type": "petition.register",
    "submission_id": "2f1d3c4e-5b6a-4789-9abc-def012345678",
    "case_id": "XF-2021-0042",
    "actor": {"officer_id": "DY-XF-01", "role": "officer", "department": DEPARTMENT},
    "occurred_at": "2021-03-02T09:30:00+08:00",
    "expected_version": None,
    "payload": {"channel": "visit", "persons": 2, "summary": '厂房噪音扰民，"夜间"施工\n要求整改'},
}


def sm2_vector() -> dict[str, Any]:
    scalar = int.from_bytes(SEED) % (SM2_ORDER - 1) + 1
    key = SM2PrivateKey.from_private_value(scalar)
    signed = sign_submission(DOCUMENT, key, DEPARTMENT)
    reordered = {name: signed[name] for name in reversed(list(signed))}
    sent = json.dumps(reordered, ensure_ascii=True, indent=1).replace(
        '"persons": 2', '"persons": 2.0'
    )
    return {
        "private_key_hex": f"{scalar:064x}",
        "public_key_hex": raw_public(key.public_key()).hex(),
        "user_id": "1234567812345678",
        "key_id": key_id(key.public_key()),
        "department": DEPARTMENT,
        "document": DOCUMENT,
        "signed_bytes": signed_bytes(signed).decode(),
        "signature": signed["signature"]["value"],
        "signed_document": signed,
        "sent": sent,
    }


def _length(n: int) -> bytes:
    return bytes([n])


def _integer(value: int, padding: bytes = b"") -> bytes:
    """A DER INTEGER, minimal unless ``padding`` (superfluous leading bytes) is given."""
    body = padding + value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return b"\x02" + _length(len(body)) + body


def _sequence(body: bytes, long_form: bool = False) -> bytes:
    return b"\x30" + (b"\x81" if long_form else b"") + _length(len(body)) + body


def der_cases(signature: bytes) -> list[dict[str, Any]]:
    """The signature as it is (the one accepted), then encodings to refuse."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(signature)
    assert _sequence(_integer(r) + _integer(s)) == signature
    refused = {
        "trailing byte": signature + b"\x00",
        "long-form length": _sequence(_integer(r) + _integer(s), long_form=True),
        "leading zero in r": _sequence(_integer(r, b"\x00") + _integer(s)),
        "leading zero in s": _sequence(_integer(r) + _integer(s, b"\x00")),
        "r = 0": _sequence(_integer(0) + _integer(s)),
        "s = 0": _sequence(_integer(r) + _integer(0)),
        "r + n": _sequence(_integer(r + SM2_ORDER) + _integer(s)),
        "s + n": _sequence(_integer(r) + _integer(s + SM2_ORDER)),
        "r = n": _sequence(_integer(SM2_ORDER) + _integer(s)),
        "negative r": _sequence(_integer(r - SM2_ORDER) + _integer(s)),
    }
    cases = [{"name": "canonical", "signature": base64.b64encode(signature).decode()}]
    for name, encoded in refused.items():
        cases.append({"name": name, "signature": base64.b64encode(encoded).decode()})
    return cases


def vector() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    raw_public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signed = sign_submission(DOCUMENT, key, DEPARTMENT)
    # As a client might send it: another key order, spaces, non-ASCII characters escaped, an
    # integer written as 2.0. The decider canonicalises what it parses, so it verifies alike.
    reordered = {name: signed[name] for name in reversed(list(signed))}
    sent = json.dumps(reordered, ensure_ascii=True, indent=1).replace(
        '"persons": 2', '"persons": 2.0'
    )
    return {
        "private_key_seed_hex": SEED.hex(),
        "public_key_base64": base64.b64encode(raw_public).decode(),
        "public_key_pem": key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "key_id": key_id(key.public_key()),
        "department": DEPARTMENT,
        "document": DOCUMENT,
        "signed_bytes": signed_bytes(signed).decode(),
        "signature": signed["signature"]["value"],
        "signed_document": signed,
        "sent": sent,
    }


if __name__ == "__main__":
    suite = Suite(sys.argv[1]) if len(sys.argv) > 1 else Suite.INTERNATIONAL
    path = folder(suite) / "signed_submission.json"
    data = vector() if suite is Suite.INTERNATIONAL else sm2_vector()
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {path}")
    if suite is Suite.GUOMI:
        cases = der_cases(base64.b64decode(data["signature"]))
        path = folder(suite) / "sm2_der_cases.json"
        path.write_text(json.dumps(cases, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"wrote {path}")
