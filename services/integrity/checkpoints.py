"""Signed checkpoints of the log: a partition's chain head at an offset, signed with the key of
the log's suite (Ed25519 under ``international``, SM2 with SM3 under ``guomi``).

A checkpoint names the suite it was made under (``suite``: absent on international ones, so
that they stay byte for byte what a decider signed before suites existed). It is how a verifier
knows which hash chains the events it covers and which signature to expect: a checkpoint of
another suite than the verifier's, or signed with a key of another algorithm, vouches for
nothing (``services.integrity.log_check.untrusted``).

An auditor holding the pinned key ring (``keyring``) can prove that the log up to a checkpoint
is the one the decider wrote: an altered, removed or reordered event changes the head, and a log
that ends before a checkpoint's offset has been truncated. The decider signs a checkpoint in the
transaction of every write that appends events, so every committed event is covered by one; an
event that none covers was not written by a decider.

The private key lives with the decider only (``Signer``); everyone else checks signatures with
the ring, never with a key found beside the private key or named by the checkpoint itself.
"""

import base64
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from pydantic import Field

from events.hashing import canonical_json
from events.model import Frozen, UtcDatetime
from events.suite import Suite, SuiteUnavailable
from services.integrity.algorithms import (
    SIGNATURE_ALGORITHM,
    PrivateKey,
    PublicKey,
    algorithm_of,
    not_of_suite,
)
from services.integrity.keyring import (
    KeyPurpose,
    KeyRing,
    KeyRingError,
    key_id,
    load_private_key,
    load_ring,
)


class Checkpoint(Frozen):
    partition: int = Field(ge=0)
    offset: int = Field(ge=0, description="Offset of the last event the head covers")
    count: int = Field(ge=1, description="How many events of the partition the head covers")
    head: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: UtcDatetime
    key_id: str = Field(description="First 16 hex digits of the suite's hash of the raw public key")
    signature: str = Field(
        description="Base64 signature (Ed25519; SM2 in DER under guomi) of the other fields'"
        " canonical JSON"
    )
    suite: Suite | None = Field(
        default=None,
        description="The cryptographic suite of the log; absent: international (every"
        " checkpoint signed before suites existed). Signed with the rest.",
    )
    operator_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Set when an operator adopted events no decider wrote"
        " ('casetrail checkpoints accept'): why. Signed with the rest; absent otherwise.",
    )

    @property
    def log_suite(self) -> Suite:
        return self.suite or Suite.INTERNATIONAL

    def signed_bytes(self) -> bytes:
        # Without operator_reason when it is None: the bytes a decider signs are those of the
        # checkpoints signed before the field existed.
        fields = self.model_dump(mode="json", exclude={"signature"}, exclude_none=True)
        return canonical_json(fields)

    def record(self) -> bytes:
        """The record's value on the checkpoints topic."""
        return self.model_dump_json(exclude_none=True).encode()


def sign(
    key: PrivateKey,
    partition: int,
    offset: int,
    count: int,
    head: str,
    at: datetime,
    operator_reason: str | None = None,
) -> Checkpoint:
    """A checkpoint signed with ``key``, of the suite whose algorithm the key is."""
    suite = next(s for s, a in SIGNATURE_ALGORITHM.items() if a is algorithm_of(key))
    unsigned = Checkpoint(
        partition=partition,
        offset=offset,
        count=count,
        head=head,
        created_at=at,
        key_id=key_id(key.public_key()),
        signature="",
        operator_reason=operator_reason,
        suite=None if suite is Suite.INTERNATIONAL else suite,
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


class SignedRecord(Protocol):
    """What the decider signs on the checkpoints topic: a checkpoint, or the log's suite
    declaration (``services.integrity.declaration``)."""

    @property
    def key_id(self) -> str: ...
    @property
    def signature(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    def signed_bytes(self) -> bytes: ...


def signature_valid(signed: SignedRecord, public: PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(signed.signature), signed.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return signed.key_id == key_id(public)


class SigningKeyNotTrusted(RuntimeError):
    """The signing key is missing, unreadable, or not a checkpoint key of the ring valid now."""


_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    """What tells that a file changed (a rotation replaces it by a rename: a new inode)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_ino, status.st_mtime_ns, status.st_size)


class Signer:
    """The decider's signing key and the ring it must be in, both read again when their files
    change: a key rotated while the decider runs is taken up at its next signature, and a key
    retired from the ring is never used past its ``valid_until``."""

    def __init__(self, key_path: Path, ring_path: Path, suite: Suite):
        self.key_path, self.ring_path, self.suite = key_path, ring_path, suite
        self._stamps: tuple[_Stamp, _Stamp] | None = None  # never read yet
        self._key: PrivateKey | None = None
        self._ring = KeyRing()
        self._problem = ""
        self._reload()

    def _reload(self) -> None:
        stamps = (_stamp(self.key_path), _stamp(self.ring_path))
        if stamps == self._stamps:
            return
        self._stamps = stamps
        try:
            self._ring = load_ring(self.ring_path)
        except KeyRingError as error:
            self._key, self._problem = None, str(error)
            return
        try:
            self._key = load_private_key(self.key_path)
        except (OSError, ValueError, TypeError, SuiteUnavailable) as error:
            self._key, self._problem = None, f"no signing key at {self.key_path}: {error}"
            return
        self._problem = ""

    @property
    def ring(self) -> KeyRing:
        """The pinned ring as it is now (read again if its file changed)."""
        self._reload()
        return self._ring

    @property
    def key_id(self) -> str | None:
        self._reload()
        return None if self._key is None else key_id(self._key.public_key())

    def check(self, at: datetime) -> PrivateKey:
        """The key, if the ring holds it as a checkpoint key valid at ``at``; otherwise
        SigningKeyNotTrusted saying why."""
        self._reload()
        if self._key is None:
            raise SigningKeyNotTrusted(self._problem)
        kid = key_id(self._key.public_key())
        wrong = not_of_suite(self._key, self.suite)
        if wrong is not None:
            raise SigningKeyNotTrusted(
                f"the signing key {kid} ({self.key_path}) {wrong}: make one with 'casetrail"
                " keys create --purpose checkpoint' under CASETRAIL_CRYPTO_SUITE="
                f"{self.suite.value}"
            )
        entry = self._ring.get(kid, KeyPurpose.CHECKPOINT)
        if entry is None:
            raise SigningKeyNotTrusted(
                f"the signing key {kid} ({self.key_path}) is not a checkpoint key of the ring"
                f" {self.ring_path}: add it with 'casetrail keys create --purpose checkpoint'"
                " or point CASETRAIL_SIGNING_KEY_FILE at the key the ring holds"
            )
        if not entry.valid_at(at):
            until = entry.valid_until.isoformat() if entry.valid_until else "open"
            raise SigningKeyNotTrusted(
                f"the signing key {kid} is valid from {entry.valid_from.isoformat()} until"
                f" {until}, not at {at.isoformat()}: rotated? ('casetrail keys list')"
            )
        return self._key

    def sign(
        self,
        partition: int,
        offset: int,
        count: int,
        head: str,
        at: datetime,
        operator_reason: str | None = None,
    ) -> Checkpoint:
        return sign(self.check(at), partition, offset, count, head, at, operator_reason)
