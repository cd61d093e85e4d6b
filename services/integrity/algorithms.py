"""The signatures of both suites, written once: Ed25519 (``international``) and SM2 with SM3
(``guomi``), behind the same small interface, so that checkpoints, submissions, the gateway
and the key ring never ask which one they hold.

- Ed25519: ``cryptography``'s keys as they are (raw 32-byte public keys, 64-byte signatures).
- SM2 (GB/T 32918) from ``tongsuopy`` (a binding of Tongsuo, compiled): the signature is over
  SM3(Z || message), Z computed with the default user id ``1234567812345678`` (GB/T 35276), and
  encoded as DER (SEQUENCE of r and s, GB/T 35276); public keys as the 65-byte uncompressed
  point (04 || x || y). ``cryptography`` has no SM2, which is why a second library is needed.
  Only the one DER encoding of (r, s) verifies (``canonical_sm2_signature``): no trailing byte,
  no long-form length, no superfluous leading zero, 0 < r, s < n. Libraries differ in what
  they tolerate (Tongsuo, sm-crypto-v2), and a second encoding of the same signature would let
  anyone change a signed submission's bytes without the key: every verifier of CaseTrail's,
  in Python and in JavaScript, refuses the same encodings.

A key's id is the first 16 hex digits of its suite's hash of the raw public key (SHA-256 for
Ed25519, as always; SM3 for SM2).
"""

import functools
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from events.suite import Suite, SuiteUnavailable

try:
    from tongsuopy.crypto import hashes as sm_hashes
    from tongsuopy.crypto import serialization as sm_serialization
    from tongsuopy.crypto.asymciphers import ec as sm_ec
    from tongsuopy.crypto.exceptions import InvalidSignature as SMInvalidSignature
except ImportError:  # no wheel for this platform (pyproject.toml): international runs without it
    sm_ec = None


class Algorithm(StrEnum):
    ED25519 = "ed25519"
    SM2 = "sm2"


SIGNATURE_ALGORITHM = {Suite.INTERNATIONAL: Algorithm.ED25519, Suite.GUOMI: Algorithm.SM2}
"""The one signature algorithm whose keys a log of each suite trusts."""

SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
"""n, the order of the SM2 curve's base point (GB/T 32918.5): r and s lie in [1, n - 1]."""


def canonical_sm2_signature(signature: bytes) -> bool:
    """Whether ``signature`` is the one DER encoding of an (r, s) with 0 < r, s < n: decoded
    and encoded again, it gives the same bytes."""
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    in_range = 0 < r < SM2_ORDER and 0 < s < SM2_ORDER
    return in_range and encode_dss_signature(r, s) == signature


@functools.cache
def _tongsuo() -> Any:
    """tongsuopy, once an SM2 key is used: the international suite needs it not, and it has
    wheels for Linux x86-64 and macOS only (pyproject.toml)."""
    if sm_ec is None:
        raise SuiteUnavailable(
            "SM2 needs the tongsuopy package, not installed here (it has wheels for Linux x86-64"
            " and macOS): the guomi suite cannot sign or verify on this machine"
        )
    # Tongsuo's name for SM2 signing with SM3 (the curve makes it SM2, not ECDSA).
    return SimpleNamespace(
        ec=sm_ec,
        serialization=sm_serialization,
        invalid=SMInvalidSignature,
        sm2_sm3=sm_ec.ECDSA(sm_hashes.SM3()),
    )


class SM2PublicKey:
    def __init__(self, key: Any):
        self._key = key

    @classmethod
    def from_raw(cls, raw: bytes) -> "SM2PublicKey":
        if len(raw) != 65 or raw[0] != 4:
            raise ValueError("an SM2 public key is the 65-byte uncompressed point 04 || x || y")
        sm = _tongsuo()
        return cls(sm.ec.EllipticCurvePublicKey.from_encoded_point(sm.ec.SM2(), raw))

    def raw(self) -> bytes:
        formats = _tongsuo().serialization
        encoded: bytes = self._key.public_bytes(
            formats.Encoding.X962, formats.PublicFormat.UncompressedPoint
        )
        return encoded

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raises ``cryptography``'s InvalidSignature, as an Ed25519 key does; also for a
        valid signature in another than its canonical DER encoding."""
        sm = _tongsuo()
        if not canonical_sm2_signature(signature):
            raise InvalidSignature()
        try:
            self._key.verify(signature, data, sm.sm2_sm3)
        except (sm.invalid, ValueError) as error:
            raise InvalidSignature() from error
        except Exception as error:  # Tongsuo's own assertion on a malformed DER
            raise InvalidSignature() from error


class SM2PrivateKey:
    def __init__(self, key: Any):
        self._key = key

    @classmethod
    def generate(cls) -> "SM2PrivateKey":
        ec = _tongsuo().ec
        return cls(ec.generate_private_key(ec.SM2()))

    @classmethod
    def from_private_value(cls, value: int) -> "SM2PrivateKey":
        """A key from its scalar (test vectors: a fixed key)."""
        ec = _tongsuo().ec
        return cls(ec.derive_private_key(value, ec.SM2()))

    def public_key(self) -> SM2PublicKey:
        return SM2PublicKey(self._key.public_key())

    def sign(self, data: bytes) -> bytes:
        """DER-encoded SM2 signature (random k: two signatures of the same bytes differ)."""
        signature: bytes = self._key.sign(data, _tongsuo().sm2_sm3)
        return signature

    def pem(self) -> bytes:
        formats = _tongsuo().serialization
        encoded: bytes = self._key.private_bytes(
            formats.Encoding.PEM, formats.PrivateFormat.PKCS8, formats.NoEncryption()
        )
        return encoded


PrivateKey = Ed25519PrivateKey | SM2PrivateKey
PublicKey = Ed25519PublicKey | SM2PublicKey


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, SM2PrivateKey | SM2PublicKey):
        return Algorithm.SM2
    return Algorithm.ED25519


def not_of_suite(key: "PrivateKey | PublicKey", suite: Suite) -> str | None:
    """Why ``key`` cannot sign for a log of ``suite``, as the end of a sentence naming the key
    (None: it can)."""
    algorithm, wanted = algorithm_of(key), SIGNATURE_ALGORITHM[suite]
    if algorithm is wanted:
        return None
    return (
        f"is an {algorithm.value} key, and the log's suite {suite.value} signs with {wanted.value}"
    )


def suite_of(algorithm: Algorithm) -> Suite:
    return Suite.GUOMI if algorithm is Algorithm.SM2 else Suite.INTERNATIONAL


def raw_public(public: PublicKey) -> bytes:
    if isinstance(public, SM2PublicKey):
        return public.raw()
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_from_raw(algorithm: Algorithm, raw: bytes) -> PublicKey:
    if algorithm is Algorithm.SM2:
        return SM2PublicKey.from_raw(raw)
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(public: PublicKey) -> str:
    """First 16 hex digits of the key's suite's hash of the raw public key."""
    return suite_of(algorithm_of(public)).hexdigest(raw_public(public))[:16]


def generate(algorithm: Algorithm) -> PrivateKey:
    if algorithm is Algorithm.SM2:
        return SM2PrivateKey.generate()
    return Ed25519PrivateKey.generate()


def private_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the file is the owner's only, mode 600)."""
    if isinstance(key, SM2PrivateKey):
        return key.pem()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(path: Path) -> PrivateKey:
    """An Ed25519 or SM2 private key from its PEM file; ValueError for anything else."""
    return private_from_pem(path.read_bytes(), str(path))


def private_from_pem(data: bytes, path: str = "the PEM") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except UnsupportedAlgorithm:  # an SM2 key: cryptography has no SM2 curve
        sm = _tongsuo()
        try:
            sm2 = sm.serialization.load_pem_private_key(data, password=None)
        except Exception as error:
            raise ValueError(f"{path} is neither an Ed25519 nor an SM2 private key") from error
        if not isinstance(getattr(sm2, "curve", None), sm.ec.SM2):
            raise ValueError(f"{path} is neither an Ed25519 nor an SM2 private key") from None
        return SM2PrivateKey(sm2)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is neither an Ed25519 nor an SM2 private key")
    return key
