"""The cryptographic suite of a log: which hash chains its events, which signature vouches for
its checkpoints and submissions, which cipher seals its personal data.

One suite per log, chosen per deployment (``CASETRAIL_CRYPTO_SUITE``) before its first event and
never switched on a log that has events: a signed declaration on the checkpoints topic fixes it
(``services.integrity.declaration``), its checkpoints name it (``services.integrity.checkpoints``),
and a service set to another suite refuses to start. Moving a log to the other suite is a
migration to a new log, the old one kept as evidence (README, "Cryptographic suites").

- ``international``: SHA-256, Ed25519, AES-256-GCM: what CaseTrail has always used; every log
  written before suites existed is international.
- ``guomi`` (国密, the commercial cryptography of GB/T 39786-2021): SM3 (GB/T 32905) for the
  chains, SM2 with SM3 and the default user id (GB/T 32918, GB/T 35276) for signatures, SM4
  (GB/T 32907) in GCM mode (RFC 8998) for personal data.

Only hashing is here (pure: ``hashlib``, whose OpenSSL provides SM3); signatures are in
``services.integrity.keyring``, sealing in ``services.privacy.cipher``.
"""

import hashlib
from enum import StrEnum


class Suite(StrEnum):
    INTERNATIONAL = "international"
    GUOMI = "guomi"

    @property
    def label(self) -> str:
        """For people (zh-CN first): what the suite is made of."""
        return SUITE_LABELS[self]

    def hexdigest(self, data: bytes) -> str:
        """The suite's hash of ``data``, as 64 lower-case hex digits (both hashes have 256 bits,
        so every hash field keeps its form)."""
        if self is Suite.GUOMI:
            return _sm3(data)
        return hashlib.sha256(data).hexdigest()


SUITE_LABELS = {
    Suite.INTERNATIONAL: "国际算法 / international (SHA-256, Ed25519, AES-256-GCM)",
    Suite.GUOMI: "国密算法 / guomi (SM3, SM2, SM4-GCM)",
}


class SuiteUnavailable(RuntimeError):
    """This Python's OpenSSL lacks an algorithm of the suite."""


def _sm3(data: bytes) -> str:
    try:
        return hashlib.new("sm3", data).hexdigest()
    except ValueError as error:  # an OpenSSL built without SM3
        raise SuiteUnavailable(
            "SM3 is not available in this Python's OpenSSL (hashlib.new('sm3')): the guomi"
            " suite needs OpenSSL 1.1.1 or later with SM3 enabled"
        ) from error
