"""The cryptography of sealed values, and of the keys that seal them.

- A data subject's key: 32 random bytes; each personal value is sealed with AES-256-GCM
  (``ALG``) under it, with a fresh 96-bit nonce, and bound (associated data) to the case, the
  event, the place in the payload and the subject: a ciphertext moved anywhere else no longer
  opens.
- The master key wraps each subject's key (AES-256-GCM, bound to the subject) in the key store;
  only processes that seal or open personal data hold it.
"""

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.integrity.keyring import write_private

ALG = "A256GCM"
"""AES-256-GCM, as JOSE names it (RFC 7518): the only algorithm of sealed values so far."""
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value or a wrapped key that does not open: wrong key, moved, or altered."""


class MasterKeyError(RuntimeError):
    """No usable master key: missing where it must exist, or not 32 bytes of base64."""


def associated_data(case_id: str, event_id: str, pointer: str, subject: str) -> bytes:
    return f"casetrail/personal-data/v1\n{case_id}\n{event_id}\n{pointer}\n{subject}".encode()


def seal_value(key: bytes, plaintext: str, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), aad)).decode()


def open_value(key: bytes, ciphertext: str, aad: bytes) -> str:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        return plain.decode()
    except (InvalidTag, ValueError, binascii.Error) as error:
        raise SealError("a sealed value does not open with its subject's key") from error


def new_subject_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class MasterKey:
    """Wraps and unwraps subjects' keys; ``key_id`` tells which master wrapped a key."""

    def __init__(self, secret: bytes):
        if len(secret) != 32:
            raise MasterKeyError("the master key must be 32 bytes")
        self._aead = AESGCM(secret)
        self.key_id = hashlib.sha256(b"casetrail master key\n" + secret).hexdigest()[:16]

    def wrap(self, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, subject.encode())

    def unwrap(self, subject: str, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject.encode()
            )
        except InvalidTag as error:
            raise SealError(f"the key of subject {subject} does not unwrap") from error

    @classmethod
    def load(cls, path: Path, create: bool = False) -> "MasterKey":
        """The master key in ``path`` (base64 of 32 bytes); made there (mode 600) if missing and
        ``create`` (development: 'casetrail infra up'). Two processes creating it at once get
        the same key: the file is created exclusively, and the loser reads the winner's."""
        if create and not path.exists():
            # Never replaces a key someone made meanwhile.
            write_private(path, base64.b64encode(os.urandom(32)) + b"\n", replace=False)
        try:
            text = path.read_text().strip()
        except OSError as error:
            raise MasterKeyError(
                f"no master key for personal data at {path} ({error.strerror}): 'casetrail infra"
                " up' makes a development one; or set CASETRAIL_MASTER_KEY_FILE"
            ) from error
        try:
            return cls(base64.b64decode(text, validate=True))
        except (binascii.Error, MasterKeyError) as error:
            raise MasterKeyError(f"{path}: not the base64 of a 32-byte key") from error
