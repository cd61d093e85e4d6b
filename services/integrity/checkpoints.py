"""Signed checkpoints of the log: a partition's chain head at an offset, signed with Ed25519.

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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from events.hashing import canonical_json
from events.model import Frozen, UtcDatetime
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
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key")
    signature: str = Field(
        description="Base64 Ed25519 signature of the other fields' canonical JSON"
    )
    operator_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Set when an operator adopted events no decider wrote"
        " ('casetrail checkpoints accept'): why. Signed with the rest; absent otherwise.",
    )

    def signed_bytes(self) -> bytes:
        # Without operator_reason when it is None: the bytes a decider signs are those of the
        # checkpoints signed before the field existed.
        fields = self.model_dump(mode="json", exclude={"signature"}, exclude_none=True)
        return canonical_json(fields)

    def record(self) -> bytes:
        """The record's value on the checkpoints topic."""
        return self.model_dump_json(exclude_none=True).encode()


def sign(
    key: Ed25519PrivateKey,
    partition: int,
    offset: int,
    count: int,
    head: str,
    at: datetime,
    operator_reason: str | None = None,
) -> Checkpoint:
    unsigned = Checkpoint(
        partition=partition,
        offset=offset,
        count=count,
        head=head,
        created_at=at,
        key_id=key_id(key.public_key()),
        signature="",
        operator_reason=operator_reason,
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def signature_valid(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return checkpoint.key_id == key_id(public)


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

    def __init__(self, key_path: Path, ring_path: Path):
        self.key_path, self.ring_path = key_path, ring_path
        self._stamps: tuple[_Stamp, _Stamp] | None = None  # never read yet
        self._key: Ed25519PrivateKey | None = None
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
        except (OSError, ValueError, TypeError) as error:
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

    def check(self, at: datetime) -> Ed25519PrivateKey:
        """The key, if the ring holds it as a checkpoint key valid at ``at``; otherwise
        SigningKeyNotTrusted saying why."""
        self._reload()
        if self._key is None:
            raise SigningKeyNotTrusted(self._problem)
        kid = key_id(self._key.public_key())
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
