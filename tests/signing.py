"""Keys for tests that decide submissions without the real key ring: one per department of the
demo town, the gateway's and the system clock's, derived from their names (the same in every
run), and a ring that holds them.

``SUITE`` is the cryptographic suite the tests run under: ``CASETRAIL_CRYPTO_SUITE``, as for the
services, international unless set. ``make test`` runs the integrity and privacy tests once
under each suite (Makefile), so the keys here are of the suite's signature algorithm."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.signing import CLOCK_DEPARTMENT
from events.suite import Suite
from services.integrity.algorithms import SIGNATURE_ALGORITHM, PrivateKey, SM2PrivateKey, generate
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey, key_id
from services.integrity.signing import Signer, SubmissionVerifier
from services.settings import Settings

SUITE: Suite = Settings().crypto_suite

DEPARTMENTS = (
    "信访办",
    "综治中心",
    "市场监管分局",
    "综合行政执法办",
    "司法所",
    "人民调解委员会",
    "督查室",
    "党政办",
    CLOCK_DEPARTMENT,
)
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def private_key(name: str, suite: Suite = SUITE) -> PrivateKey:
    """The key of ``name`` under ``suite``, derived from the name."""
    seed = hashlib.sha256(f"test {name}".encode()).digest()
    if suite is Suite.GUOMI:
        # A scalar below the SM2 group order (2^256 - 2^224 - ...): the seed's top bit cleared.
        return SM2PrivateKey.from_private_value(int.from_bytes(seed, "big") >> 1)
    return Ed25519PrivateKey.from_private_bytes(seed)


def ring_key(key: PrivateKey, purpose: KeyPurpose, department: str | None = None) -> RingKey:
    public = key.public_key()
    return RingKey(key_id(public), purpose, public, SINCE, None, department)


DEPARTMENT_SIGNERS = {d: Signer.of(private_key(d)) for d in DEPARTMENTS}
GATEWAY = Signer.of(private_key("gateway"))
RING = KeyRing(
    (
        *(ring_key(s.key, KeyPurpose.DEPARTMENT, d) for d, s in DEPARTMENT_SIGNERS.items()),
        ring_key(GATEWAY.key, KeyPurpose.GATEWAY),
    )
)
VERIFIER = SubmissionVerifier(RING, suite=SUITE)
"""Signatures required, by the keys above."""
UNCHECKED = SubmissionVerifier(KeyRing(), required=False, suite=SUITE)
"""For tests about something else that decide unsigned submissions."""


def signed(document: dict[str, Any], department: str | None = None) -> dict[str, Any]:
    """``document`` signed by its actor's department's key (or ``department``'s)."""
    department = department or document["actor"]["department"]
    return DEPARTMENT_SIGNERS[department].sign(document, department)


def signed_json(value: bytes) -> bytes:
    return json.dumps(signed(json.loads(value)), ensure_ascii=False).encode()


def new_private_key() -> PrivateKey:
    """A fresh key of the suite's signature algorithm (a stranger's, a forger's)."""
    return generate(SIGNATURE_ALGORITHM[SUITE])
