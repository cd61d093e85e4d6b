"""Signed submissions: who vouched for each step (docs/signing.md).

A submission carries ``signature``: a key of the key ring (``services.integrity.keyring``), the
department it vouches for, and a signature (Ed25519, or SM2 with SM3 under the guomi suite:
``services.integrity.algorithms``) over the canonical JSON of the submission
without ``signature.value`` (``events.signing``). Departments publishing straight to Kafka sign
with their own key; the gateway signs what it accepted with a department's token, naming that
department.

Here: the client's helper (``sign_submission``, ``Signer``), the decider's check
(``SubmissionVerifier``: pure, the ring given to it) and the development keys that
``casetrail infra up`` and the demo make.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature

from events.errors import Rejection, RejectionCode, reject
from events.model import VouchedBy
from events.signing import CLOCK_DEPARTMENT, SIGNATURE_FIELD, signed_bytes, vouched_department
from events.submissions import SubmissionBase
from events.suite import Suite, SuiteUnavailable
from services.integrity.algorithms import (
    SIGNATURE_ALGORITHM,
    Algorithm,
    PrivateKey,
    PublicKey,
    algorithm_of,
    not_of_suite,
)
from services.integrity.keyring import (
    KeyPurpose,
    KeyRing,
    RingKey,
    load_private_key,
    load_ring,
    new_key,
    save_ring,
)
from services.integrity.keyring import key_id as key_id_of
from services.progress import Say
from services.settings import Settings

# --- signing: what a client does ---------------------------------------------------------------


def sign_submission(
    document: Mapping[str, Any],
    key: PrivateKey,
    department: str,
    key_id: str | None = None,
) -> dict[str, Any]:
    """``document`` (a submission as JSON-ready values: strings, integers, booleans, null,
    lists and objects) with a ``signature`` by ``key`` vouching for ``department``. Any earlier
    signature is replaced. Send the result as JSON in any layout: the decider checks the
    canonical form of what it parses."""
    claim = {"key_id": key_id or key_id_of(key.public_key()), "department": department}
    signed = {name: value for name, value in document.items() if name != SIGNATURE_FIELD}
    signed[SIGNATURE_FIELD] = claim
    value = base64.b64encode(key.sign(signed_bytes(signed))).decode()
    signed[SIGNATURE_FIELD] = {**claim, "value": value}
    return signed


def signature_valid(document: Mapping[str, Any], public: PublicKey) -> bool:
    """Whether ``document``'s signature verifies with ``public`` (the key's validity and the
    department it may vouch for are the decider's checks: ``SubmissionVerifier``)."""
    try:
        claim = document[SIGNATURE_FIELD]
        public.verify(
            _signature_bytes(claim["value"], algorithm_of(public)), signed_bytes(document)
        )
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class Signer:
    """A private key ready to sign submissions (a department's, or the gateway's)."""

    key: PrivateKey
    key_id: str

    @classmethod
    def of(cls, key: PrivateKey) -> "Signer":
        return cls(key, key_id_of(key.public_key()))

    @classmethod
    def from_file(cls, path: Path) -> "Signer":
        return cls.of(load_private_key(path))

    def sign(self, document: Mapping[str, Any], department: str) -> dict[str, Any]:
        return sign_submission(document, self.key, department, self.key_id)


def _signature_bytes(value: Any, algorithm: Algorithm) -> bytes:
    if not isinstance(value, str):
        raise ValueError("signature.value must be a base64 string")
    raw = base64.b64decode(value, validate=True)
    if algorithm is Algorithm.ED25519 and len(raw) != 64:
        raise ValueError(f"an Ed25519 signature has 64 bytes, this one {len(raw)}")
    if algorithm is Algorithm.SM2 and not 8 <= len(raw) <= 72:
        raise ValueError(f"an SM2 signature (DER) has 8 to 72 bytes, this one {len(raw)}")
    return raw


# --- verifying: what the decider does -----------------------------------------------------------

_SUBMISSION_PURPOSES = (KeyPurpose.DEPARTMENT, KeyPurpose.GATEWAY)


class SubmissionVerifier:
    """The decider's check of who vouches for a submission. Pure: the ring is given, the
    instant of the decision too.

    The checks, in this order (after the submission parsed and sits where its case belongs),
    each with its rejection code:

    1. it carries a signature (``unsigned_submission``); with ``required`` false, a
       benchmarking or migration switch only, an unsigned one passes unvouched;
    2. the key is in the ring as a department or gateway key, valid at the instant of the
       decision (``unknown_signer``);
    3. the signature verifies over the canonical JSON of the document as sent
       (``bad_signature``);
    4. it vouches for the actor's department (the clock's: ``system-clock``), a department key
       only for its own department, the gateway's key never for the clock
       (``signer_department_mismatch``).
    """

    def __init__(self, ring: KeyRing, suite: Suite, required: bool = True):
        """Only keys of ``suite``'s signature algorithm vouch for anything."""
        self.ring = ring
        self.required = required
        self.suite = suite
        algorithm = SIGNATURE_ALGORITHM[suite]
        self.keys: dict[str, RingKey] = {
            key.key_id: key
            for key in ring.keys
            if key.purpose in _SUBMISSION_PURPOSES and key.algorithm is algorithm
        }

    def vouch(
        self, raw: bytes, submission: SubmissionBase, at: datetime
    ) -> VouchedBy | Rejection | None:
        """Who vouched for ``submission`` (parsed from ``raw``), None if unsigned and not
        required, or why it is rejected."""
        signature = submission.signature
        if signature is None:
            if not self.required:
                return None
            return reject(
                RejectionCode.UNSIGNED_SUBMISSION,
                f"提交未签名 / unsigned submission: sign it with a key registered for"
                f" {vouched_department(submission.actor)} (docs/signing.md), or submit it"
                " through the gateway",
            )
        key = self.keys.get(signature.key_id)
        if key is None:
            return reject(RejectionCode.UNKNOWN_SIGNER, self._unknown(signature.key_id))
        if not key.valid_at(at):
            until = key.valid_until.isoformat() if key.valid_until else "(open)"
            return reject(
                RejectionCode.UNKNOWN_SIGNER,
                f"签名密钥不在有效期 / key {key.key_id} is valid from"
                f" {key.valid_from.isoformat()} until {until}, not at {at.isoformat()}",
            )
        try:
            key.public_key.verify(
                _signature_bytes(signature.value, key.algorithm), signed_bytes(_parsed(raw))
            )
        except (InvalidSignature, ValueError, binascii.Error) as error:
            why = str(error) or "it was made over other bytes, or with another key"
            return reject(
                RejectionCode.BAD_SIGNATURE,
                f"签名无效 / the signature of key {key.key_id} does not verify over this"
                f" submission's canonical JSON (docs/signing.md): {why}",
            )
        kind = "gateway" if key.purpose is KeyPurpose.GATEWAY else "department"
        return _department_refused(key, signature.department, submission) or VouchedBy(
            key_id=key.key_id, department=signature.department, kind=kind
        )

    def _unknown(self, wanted: str) -> str:
        other = next((k for k in self.ring.keys if k.key_id == wanted), None)
        if other is not None and other.algorithm is not SIGNATURE_ALGORITHM[self.suite]:
            return (
                f"签名算法不符 / key {wanted} is an {other.algorithm.value} key: this log's"
                f" cryptographic suite ({self.suite.value}) accepts"
                f" {SIGNATURE_ALGORITHM[self.suite].value} keys only"
            )
        if other is not None:
            return (
                f"签名密钥用途不符 / key {wanted} is in the key ring for {other.purpose.value},"
                " not for submissions (department or gateway)"
            )
        return f"签名密钥未登记 / key {wanted} is not in the key ring"


def _parsed(raw: bytes) -> dict[str, Any]:
    document = orjson.loads(raw)
    if not isinstance(document, dict):
        raise ValueError("a submission is a JSON object")
    return document


def _department_refused(key: RingKey, vouched: str, submission: SubmissionBase) -> Rejection | None:
    wanted = vouched_department(submission.actor)
    if vouched != wanted:
        who = submission.actor.officer_id
        return reject(
            RejectionCode.SIGNER_DEPARTMENT_MISMATCH,
            f"签名部门不符 / the signature vouches for {vouched}, but {who} acts for {wanted}",
        )
    if key.purpose is KeyPurpose.DEPARTMENT and key.department != vouched:
        return reject(
            RejectionCode.SIGNER_DEPARTMENT_MISMATCH,
            f"签名部门不符 / key {key.key_id} is {key.department}'s: it cannot vouch for {vouched}",
        )
    if key.purpose is KeyPurpose.GATEWAY and vouched == CLOCK_DEPARTMENT:
        return reject(
            RejectionCode.SIGNER_DEPARTMENT_MISMATCH,
            f"签名部门不符 / only the system clock's own key vouches for the system clock, not"
            f" the gateway's key {key.key_id}",
        )
    return None


# --- development keys ----------------------------------------------------------------------------


def department_key_path(settings: Settings, department: str) -> Path:
    """Where the development key of ``department`` lives: <state_dir>/keys/departments/, never
    beside the ring (which every service reads). A real department keeps its key itself;
    CaseTrail holds only its public half."""
    if not department or "/" in department or "\0" in department or department in {".", ".."}:
        raise ValueError(f"no key file for a department named {department!r}")
    return settings.keys_dir / "departments" / f"{department}-{settings.signature_algorithm}.pem"


def officer_departments(settings: Settings) -> list[str]:
    """The departments of the officer directory, if the settings name one."""
    if settings.officers_file is None:
        return []
    officers = json.loads(settings.officers_file.read_text("utf-8"))["officers"]
    return sorted({str(officer["department"]) for officer in officers})


def ensure_dev_signing_keys(settings: Settings, say: Say) -> None:
    """Development keys, where missing: the gateway's, and one per department of the officer
    directory, each private key in its PEM file (mode 600), each public key in the ring. A
    private key whose public half is not in the ring is put in only when the ring has no key
    for it at all (a ring made afresh); one removed or rotated out by an operator stays out."""
    _ensure(settings, settings.gateway_signing_key_path, KeyPurpose.GATEWAY, None, say)
    for department in officer_departments(settings):
        path = department_key_path(settings, department)
        _ensure(settings, path, KeyPurpose.DEPARTMENT, department, say)


def _ensure(
    settings: Settings, path: Path, purpose: KeyPurpose, department: str | None, say: Say
) -> None:
    ring_path = settings.key_ring_path
    what = f"{purpose.value} key" + (f" of {department}" if department else "")
    if not path.exists():
        made = new_key(
            ring_path, path, purpose, department, "development key", suite=settings.crypto_suite
        )
        say(f"signing: created a development {what} {made.key_id} in {path}")
        return
    ring = load_ring(ring_path) if ring_path.exists() else KeyRing()
    public = load_private_key(path).public_key()
    if ring.get(key_id_of(public), purpose) is not None:
        return
    algorithm = algorithm_of(public)
    if any(
        k.purpose is purpose and k.department == department and k.algorithm is algorithm
        for k in ring.keys
    ):
        # The ring knows other keys for this (of this suite: a ring may be shared by both): an
        # operator removed or rotated this one, and a development start must never trust it
        # again behind their back.
        say(f"signing: the development {what} in {path} is not in the ring; left out")
        return
    entry = RingKey(key_id_of(public), purpose, public, datetime.now(UTC), None, department)
    save_ring(ring_path, ring.with_key(entry))
    say(f"signing: put the development {what} {entry.key_id} in {ring_path} (a new ring)")


class NoDepartmentKey(LookupError):
    """No development key of a department is at hand to sign with."""


@dataclass(frozen=True)
class DepartmentSigners:
    """The development keys of the departments (``ensure_dev_keys``), by department: what the
    demo, the benchmark and the tests sign with when they publish straight to Kafka, as each
    department's own client would."""

    signers: Mapping[str, Signer]
    where: Path

    @classmethod
    def load(cls, settings: Settings) -> "DepartmentSigners":
        signers = {}
        for department in officer_departments(settings):
            path = department_key_path(settings, department)
            if path.exists():
                signers[department] = Signer.from_file(path)
        return cls(signers, settings.key_ring_path.parent / "departments")

    def sign(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """``document`` signed by the key of its actor's department."""
        department = str(document["actor"]["department"])
        signer = self.signers.get(department)
        if signer is None:
            raise NoDepartmentKey(
                f"no development key of {department} in {self.where}: 'casetrail infra up'"
                " makes one for each department of CASETRAIL_OFFICERS_FILE"
            )
        return signer.sign(document, department)

    def sign_json(self, value: bytes) -> bytes:
        """A submission's JSON, signed; unchanged when it is no JSON object with an actor whose
        department has a key here (so that it reaches the decider as it is, and is answered as
        it deserves: tests send such records on purpose)."""
        try:
            signed = self.sign(json.loads(value))
        except (ValueError, KeyError, TypeError, LookupError):
            return value
        return json.dumps(signed, ensure_ascii=False).encode()


class NoGatewayKey(RuntimeError):
    """The gateway has no key to vouch with, and signatures are required."""


def gateway_signer(settings: Settings) -> Signer | None:
    """The gateway's key (``settings.gateway_signing_key_path``); None only when signatures are
    not required and there is no key (the gateway then publishes submissions unsigned)."""
    path = settings.gateway_signing_key_path
    if not (path.exists() or settings.require_signatures):
        return None
    try:
        signer = Signer.from_file(path)
    except (OSError, ValueError, SuiteUnavailable) as error:
        raise NoGatewayKey(
            f"the gateway vouches for what it accepts with its key, and cannot read"
            f" {path}: {error} (CASETRAIL_GATEWAY_SIGNING_KEY_FILE; 'casetrail infra up'"
            " makes a development key)"
        ) from error
    # A key of the other suite would start, and then every submission it vouched for would be
    # rejected unknown_signer by the decider: refused here, once, saying why.
    wrong = not_of_suite(signer.key, settings.crypto_suite)
    if wrong is not None:
        raise NoGatewayKey(
            f"the gateway's key {signer.key_id} ({path}) {wrong}: the decider would reject every"
            " submission it vouched for; make one with 'casetrail keys create --purpose gateway'"
            f" under CASETRAIL_CRYPTO_SUITE={settings.crypto_suite.value}"
        )
    return signer
