"""The cryptography of sealed values, and of the keys that seal them.

- A data subject's key: random bytes (32 for AES-256, 16 for SM4); each personal value is
  sealed with the log's suite's authenticated cipher under it: AES-256-GCM (``ALG``,
  international) or SM4-GCM (``SM4_ALG``, guomi: SM4 of GB/T 32907 in GCM as RFC 8998 uses
  it), with a fresh 96-bit nonce, and bound (associated data) to the case, the event, the
  place in the payload and the subject: a ciphertext moved anywhere else no longer opens. The
  stored form is the same for both: base64 of nonce, ciphertext and 16-byte tag.
- The master key (32 random bytes, one file whatever the suite) wraps each subject's key in the
  key store, bound to the subject: with AES-256-GCM under international, with SM4-GCM under a
  128-bit key derived from it (HKDF with SM3) under guomi. Only processes that seal or open
  personal data hold it.

GCM rather than SM4-CBC with an HMAC-SM3: one pass, one key, the same nonce, tag and stored
form as the international cipher, and the mode of SM4 that TLS 1.3 (RFC 8998) uses.
"""

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from events.suite import Suite
from services.integrity.keyring import write_private

ALG = "A256GCM"
"""AES-256-GCM, as JOSE names it (RFC 7518): the international suite's sealed values."""
SM4_ALG = "SM4GCM"
"""SM4 in GCM mode (RFC 8998's SM4_GCM): the guomi suite's sealed values."""
CIPHER_ALG = {Suite.INTERNATIONAL: ALG, Suite.GUOMI: SM4_ALG}
KEY_BYTES = {ALG: 32, SM4_ALG: 16}
NONCE_BYTES = 12
TAG_BYTES = 16


class SM4GCM:
    """SM4-GCM with AESGCM's interface (``cryptography`` has SM4 and GCM, not this AEAD)."""

    def __init__(self, key: bytes):
        if len(key) != 16:
            raise ValueError("an SM4 key has 16 bytes")
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad or b"")
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        if len(data) < TAG_BYTES:
            raise InvalidTag()
        body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(aad or b"")
        return decryptor.update(body) + decryptor.finalize()


def aead(alg: str, key: bytes) -> AESGCM | SM4GCM:
    if alg == SM4_ALG:
        return SM4GCM(key)
    if alg == ALG:
        return AESGCM(key)
    raise ValueError(f"unknown cipher {alg!r}")


class SealError(ValueError):
    """A sealed value or a wrapped key that does not open: wrong key, moved, or altered."""


class MasterKeyError(RuntimeError):
    """No usable master key: missing where it must exist, or not 32 bytes of base64."""


def _wrapping(secret: bytes, suite: Suite) -> AESGCM | SM4GCM:
    """The master key's cipher under ``suite``: AES-256-GCM, or SM4-GCM under a key derived
    from it with HKDF-SM3."""
    if suite is Suite.GUOMI:
        info = b"casetrail master key: SM4-GCM key wrapping"
        return SM4GCM(HKDF(hashes.SM3(), 16, salt=None, info=info).derive(secret))
    return AESGCM(secret)


def _unwrap(aead: AESGCM | SM4GCM, subject: str, wrapped: bytes) -> bytes:
    return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], subject.encode())


def associated_data(case_id: str, event_id: str, pointer: str, subject: str) -> bytes:
    return f"casetrail/personal-data/v1\n{case_id}\n{event_id}\n{pointer}\n{subject}".encode()


def seal_value(key: bytes, plaintext: str, aad: bytes, alg: str = ALG) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = aead(alg, key).encrypt(nonce, plaintext.encode(), aad)
    return base64.b64encode(nonce + sealed).decode()


def open_value(key: bytes, ciphertext: str, aad: bytes, alg: str = ALG) -> str:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        plain = aead(alg, key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
        return plain.decode()
    except (InvalidTag, ValueError, binascii.Error) as error:
        raise SealError("a sealed value does not open with its subject's key") from error


def new_subject_key(alg: str = ALG) -> bytes:
    return os.urandom(KEY_BYTES[alg])


class MasterKey:
    """Wraps and unwraps subjects' keys; ``key_id`` tells which master wrapped a key."""

    def __init__(self, secret: bytes, suite: Suite):
        if len(secret) != 32:
            raise MasterKeyError("the master key must be 32 bytes")
        self.suite = suite
        self._secret = secret
        self._aead = _wrapping(secret, suite)
        # Names the secret, whatever the suite: the key store tells keys of another master (and
        # the ids of the key stores written before suites stay as they are). Which suite wrapped
        # a key the failure to unwrap it says (``unwrap``).
        self.key_id = hashlib.sha256(b"casetrail master key\n" + secret).hexdigest()[:16]

    def wrap(self, subject: str, key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, key, subject.encode())

    def unwrap(self, subject: str, wrapped: bytes) -> bytes:
        try:
            return _unwrap(self._aead, subject, wrapped)
        except InvalidTag as error:
            raise SealError(self._why_not(subject, wrapped)) from error

    def _why_not(self, subject: str, wrapped: bytes) -> str:
        """Why a key does not unwrap: under the other suite, the same master key id wraps with
        another cipher, and only trying it tells the two apart (on this failure path only)."""
        cause = f"the key of subject {subject} does not unwrap under the suite {self.suite.value}"
        other = Suite.GUOMI if self.suite is Suite.INTERNATIONAL else Suite.INTERNATIONAL
        try:
            _unwrap(_wrapping(self._secret, other), subject, wrapped)
        except (InvalidTag, ValueError):
            return f"{cause}: altered, or wrapped by another master key"
        return (
            f"{cause}: this master key ({self.key_id}) wrapped it under the suite {other.value}"
            f" ({other.label}); CASETRAIL_CRYPTO_SUITE is {self.suite.value}"
        )

    @classmethod
    def load(cls, path: Path, suite: Suite, create: bool = False) -> "MasterKey":
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
            return cls(base64.b64decode(text, validate=True), suite)
        except (binascii.Error, MasterKeyError) as error:
            raise MasterKeyError(f"{path}: not the base64 of a 32-byte key") from error
