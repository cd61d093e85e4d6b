"""The public key ring: every key whose signature CaseTrail accepts, and what for.

One JSON file (``CASETRAIL_KEY_RING_FILE``, default ``<state_dir>/keys/ring.json``), pinned by
whoever verifies: ``casetrail verify``, the decider and the query service trust a signature only
if its key is in the ring, for that purpose, and was valid when the signature was made. A key
found beside a private key, or inside what is being verified, is never trusted by itself.

Purposes:

- ``checkpoint``: the decider's key for signed checkpoints of the log;
- ``department``: a department's key for the submissions it publishes (``department`` names it);
- ``gateway``: the gateway's key, vouching for submissions it accepted with a department's
  token (the submission names that department).

Rotation adds a key and closes the old one's validity (``valid_until``); old signatures stay
verifiable with the old key, new ones must use a key valid at the time they claim.

The file holds public keys only; each private key lives in its own PEM file (mode 600) with the
one service or department that signs with it.

Keys are Ed25519 (suite ``international``) or SM2 (``guomi``): an entry names its
``algorithm`` when it is not Ed25519 (so the rings written before suites read as they were), and
only keys of the log's suite vouch for anything (``services.integrity.algorithms``).
"""

import base64
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from events.suite import Suite, SuiteUnavailable
from services.integrity.algorithms import (
    SIGNATURE_ALGORITHM,
    Algorithm,
    PrivateKey,
    PublicKey,
    algorithm_of,
    generate,
    key_id,
    load_private_key,
    private_pem,
    public_from_raw,
    raw_public,
)

__all__ = ["KeyPurpose", "KeyRing", "KeyRingError", "RingKey", "key_id", "load_private_key"]


class KeyPurpose(StrEnum):
    CHECKPOINT = "checkpoint"
    DEPARTMENT = "department"
    GATEWAY = "gateway"


class KeyRingError(ValueError):
    """The key ring file is missing or not a key ring; the message says which and why."""


@dataclass(frozen=True)
class RingKey:
    key_id: str
    purpose: KeyPurpose
    public_key: PublicKey
    valid_from: datetime
    valid_until: datetime | None = None
    department: str | None = None
    """For a department key: the department it signs for."""
    note: str = ""

    def valid_at(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    @property
    def algorithm(self) -> Algorithm:
        return algorithm_of(self.public_key)

    def as_json(self) -> dict[str, Any]:
        raw = raw_public(self.public_key)
        named = {} if self.algorithm is Algorithm.ED25519 else {"algorithm": self.algorithm.value}
        return {
            "key_id": self.key_id,
            **named,
            "purpose": self.purpose.value,
            "department": self.department,
            "public_key": base64.b64encode(raw).decode(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "RingKey":
        algorithm = Algorithm(entry.get("algorithm", Algorithm.ED25519))
        public = public_from_raw(algorithm, base64.b64decode(entry["public_key"]))
        purpose = KeyPurpose(entry["purpose"])
        department = entry.get("department")
        if (purpose is KeyPurpose.DEPARTMENT) != bool(department):
            raise ValueError("a department key, and only a department key, names its department")
        if key_id(public) != entry["key_id"]:
            raise ValueError(f"key_id {entry['key_id']} is not the id of its public key")
        until = entry.get("valid_until")
        return cls(
            key_id=entry["key_id"],
            purpose=purpose,
            public_key=public,
            valid_from=_utc(entry["valid_from"]),
            valid_until=_utc(until) if until else None,
            department=department,
            note=str(entry.get("note") or ""),
        )


def _utc(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return at.astimezone(UTC)


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[RingKey, ...] = field(default_factory=tuple)

    def get(self, wanted: str, purpose: KeyPurpose) -> RingKey | None:
        """The key with this id, if the ring holds it for ``purpose``."""
        for key in self.keys:
            if key.key_id == wanted and key.purpose is purpose:
                return key
        return None

    def current(
        self, purpose: KeyPurpose, department: str | None = None, *, suite: Suite
    ) -> list[RingKey]:
        """The keys valid now for ``purpose`` (and ``department``) of ``suite``'s algorithm: a
        ring shared by both suites (CASETRAIL_KEY_RING_FILE) holds the other's keys too, which
        a rotation under this suite must leave alone."""
        now = datetime.now(UTC)
        algorithm = SIGNATURE_ALGORITHM[suite]
        return [
            k
            for k in self.keys
            if k.purpose is purpose
            and k.department == department
            and k.algorithm is algorithm
            and k.valid_at(now)
        ]

    def with_key(self, key: RingKey) -> "KeyRing":
        return KeyRing((*[k for k in self.keys if k.key_id != key.key_id], key))

    def as_json(self) -> dict[str, Any]:
        return {"keys": [key.as_json() for key in self.keys]}


def load_ring(path: Path) -> KeyRing:
    """The ring in ``path``; KeyRingError when it is missing or any entry is bad (a ring with a
    bad entry is not half-trusted)."""
    try:
        document = json.loads(path.read_bytes())
        return KeyRing(tuple(RingKey.from_json(entry) for entry in document["keys"]))
    except FileNotFoundError:
        raise KeyRingError(f"no key ring at {path}: create one with 'casetrail keys'") from None
    except (OSError, ValueError, KeyError, TypeError, SuiteUnavailable) as error:
        # SuiteUnavailable: an SM2 key, and no tongsuopy here (pyproject.toml).
        raise KeyRingError(f"{path} is not a valid key ring: {error}") from error


def save_ring(path: Path, ring: KeyRing) -> None:
    """Write the ring atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(ring.as_json(), ensure_ascii=False, indent=2) + "\n")
    os.replace(partial, path)


def write_private_key(path: Path, key: PrivateKey) -> None:
    """A private key in PKCS#8 PEM, readable by its owner only (created so, never widened), put
    in place by a rename: a decider that reloads its key on rotation never reads half a file."""
    write_private(path, private_pem(key))


def write_private(path: Path, data: bytes, replace: bool = True) -> None:
    """``data`` at ``path``, readable by its owner only (created so, never widened), whole or
    not at all: written beside it, then renamed into place. Without ``replace``, a file already
    there (another process's, made meanwhile) is kept and ``data`` dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(partial, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def new_key(
    ring_path: Path,
    private_path: Path,
    purpose: KeyPurpose,
    department: str | None = None,
    note: str = "",
    retire_current: bool = False,
    *,
    suite: Suite,
) -> RingKey:
    """Make a key pair of the suite's algorithm: the private key to ``private_path``, the public
    key into the ring. With ``retire_current``, the keys of the same purpose (and department)
    and suite valid now end now: a rotation."""
    ring = load_ring(ring_path) if ring_path.exists() else KeyRing()
    now = datetime.now(UTC)
    if retire_current:
        for old in ring.current(purpose, department, suite=suite):
            ring = ring.with_key(replace(old, valid_until=now))
    private = generate(SIGNATURE_ALGORITHM[suite])
    public = private.public_key()
    key = RingKey(key_id(public), purpose, public, now, None, department, note)
    # The private key first: a decider that sees the new ring finds the new key in place.
    write_private_key(private_path, private)
    save_ring(ring_path, ring.with_key(key))
    return key


def ensure_dev_keys(ring_path: Path, private_path: Path, suite: Suite) -> str | None:
    """For development (``casetrail infra up``, the demo): a checkpoint key at ``private_path``
    registered in the ring at ``ring_path``, made if missing. What was done, or None.

    A development key from before the ring (no ring yet) is registered as valid since its
    file was written, so that the checkpoints it signed then still verify. A ring that exists
    and does not hold the key is the operator's: left alone (the decider will say so)."""
    if not private_path.exists():
        key = new_key(
            ring_path, private_path, KeyPurpose.CHECKPOINT, note="development", suite=suite
        )
        return f"created a development checkpoint key {key.key_id} ({private_path}, {ring_path})"
    if ring_path.exists():
        return None
    public = load_private_key(private_path).public_key()
    since = datetime.fromtimestamp(private_path.stat().st_mtime, UTC)
    key = RingKey(key_id(public), KeyPurpose.CHECKPOINT, public, since, note="development")
    save_ring(ring_path, KeyRing((key,)))
    return f"registered the development checkpoint key {key.key_id} in a new ring {ring_path}"
