"""Signed checkpoints of the log: a partition's chain head at an offset, signed with Ed25519.

An auditor holding the public key can prove that the log up to a checkpoint is the one the
decider wrote: an altered, removed or reordered event changes the head, and a log that ends
before a checkpoint's offset has been truncated.
"""

import base64
import hashlib
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from events.hashing import canonical_json
from events.model import Frozen, UtcDatetime


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

    def signed_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(
    key: Ed25519PrivateKey, partition: int, offset: int, count: int, head: str, at: datetime
) -> Checkpoint:
    unsigned = Checkpoint(
        partition=partition,
        offset=offset,
        count=count,
        head=head,
        created_at=at,
        key_id=key_id(key.public_key()),
        signature="",
    )
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signature": signature})


def signature_valid(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return checkpoint.key_id == key_id(public)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The public key from its own file (``<key>.pub``) or derived from the private key."""
    public_path = path.with_suffix(path.suffix + ".pub")
    if public_path.exists():
        key = serialization.load_pem_public_key(public_path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{public_path} is not an Ed25519 public key")
        return key
    return load_private_key(path).public_key()


def ensure_dev_key(path: Path) -> bool:
    """Create a development key pair at ``path`` (and ``path``.pub) unless one exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    path.with_suffix(path.suffix + ".pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return True
