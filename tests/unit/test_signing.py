"""Who vouched for each step: the decider's signature checks (every rejection code), what the
event records, and the signing recipe against fixed vectors, in Python and in JavaScript."""

import base64
import json
import shutil
import subprocess
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.errors import RejectionCode
from events.model import Event, Outcome, VouchedBy
from events.signing import CLOCK_DEPARTMENT, Unsignable, signed_bytes
from events.submissions import SubmissionBase, parse_submission
from events.suite import Suite
from services.decider.officers import load_officers
from services.decider.partition import Decision, PartitionState
from services.demo import OFFICERS_FILE
from services.integrity.keyring import KeyPurpose, KeyRing
from services.integrity.signing import (
    Signer,
    SubmissionVerifier,
    sign_submission,
    signature_valid,
)
from tests.signing import (
    DEPARTMENT_SIGNERS,
    GATEWAY,
    RING,
    SUITE,
    UNCHECKED,
    VERIFIER,
    new_private_key,
    private_key,
    ring_key,
    signed,
)

NOW = datetime(2020, 3, 5, 2, 0, tzinfo=UTC)
OFFICERS = load_officers(OFFICERS_FILE)
XF, ZX = "信访办", "综治中心"
ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": XF}
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def register(case_id: str = "XF-7", actor: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "petition.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": actor or ACTOR,
        "occurred_at": "2020-03-04T09:30:00+08:00",
        "payload": {"channel": "online", "persons": 1, "summary": "咨询"},
    }


def decided(document: dict[str, Any], verifier: SubmissionVerifier = VERIFIER) -> Decision:
    return PartitionState(OFFICERS, verifier, suite=SUITE).decide_record(
        json.dumps(document).encode(), NOW
    )


def rejected(document: dict[str, Any], code: RejectionCode, *words: str) -> Outcome:
    decision = decided(document)
    assert decision.outcome is not None
    assert (decision.outcome.code, decision.events) == (code, ())
    for word in words:
        assert word in decision.outcome.message, decision.outcome.message
    return decision.outcome


# --- accepted: the event says who vouched -------------------------------------------------------


def test_a_department_signed_submission_is_recorded_with_its_key() -> None:
    (event,) = decided(signed(register())).events
    key_id = DEPARTMENT_SIGNERS[XF].key_id
    assert event.vouched_by == VouchedBy(key_id=key_id, department=XF, kind="department")
    assert json.loads(event.model_dump_json())["vouched_by"] == {
        "key_id": key_id,
        "department": XF,
        "kind": "department",
    }
    assert event.hash == event.computed_hash(suite=SUITE)
    other = event.model_copy(
        update={"vouched_by": VouchedBy(key_id="0" * 16, department=XF, kind="gateway")}
    )
    assert other.computed_hash(suite=SUITE) != event.hash, "the hash covers who vouched"


def test_a_gateway_signed_submission_is_recorded_as_the_gateways() -> None:
    (event,) = decided(GATEWAY.sign(register(), XF)).events
    assert event.vouched_by == VouchedBy(key_id=GATEWAY.key_id, department=XF, kind="gateway")


def test_an_event_nobody_vouched_for_has_no_vouched_by_field_so_old_hashes_hold() -> None:
    """Events written before signatures have no such field: their JSON, and so their hash,
    must stay byte for byte what it was (tests/vectors/hash_chain.json holds such events)."""
    (event,) = decided(register(), UNCHECKED).events
    assert event.vouched_by is None
    assert "vouched_by" not in json.loads(event.model_dump_json())
    assert (
        Event.model_validate_json(event.model_dump_json()).computed_hash(suite=SUITE) == event.hash
    )


# --- the four rejection codes, in the order they are checked ------------------------------------


def test_an_unsigned_submission_is_rejected() -> None:
    rejected(register(), RejectionCode.UNSIGNED_SUBMISSION, "提交未签名", "unsigned", XF)


def test_a_key_not_in_the_ring_is_an_unknown_signer() -> None:
    stranger = Signer.of(new_private_key())
    document = stranger.sign(register(), XF)
    rejected(document, RejectionCode.UNKNOWN_SIGNER, stranger.key_id, "not in the key ring")


def test_a_checkpoint_key_cannot_sign_submissions() -> None:
    key = private_key("checkpoint")
    ring = KeyRing((*RING.keys, ring_key(key, KeyPurpose.CHECKPOINT)))
    decision = decided(Signer.of(key).sign(register(), XF), SubmissionVerifier(ring, suite=SUITE))
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.UNKNOWN_SIGNER
    assert "for checkpoint, not for submissions" in decision.outcome.message


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [(NOW + timedelta(seconds=1), None), (NOW - timedelta(days=9), NOW)],
    ids=["not yet valid", "retired"],
)
def test_a_key_outside_its_validity_is_an_unknown_signer(
    valid_from: datetime, valid_until: datetime | None
) -> None:
    signer = DEPARTMENT_SIGNERS[XF]
    ring = KeyRing(
        tuple(
            replace(k, valid_from=valid_from, valid_until=valid_until)
            if k.key_id == signer.key_id
            else k
            for k in RING.keys
        )
    )
    decision = decided(signed(register()), SubmissionVerifier(ring, suite=SUITE))
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.UNKNOWN_SIGNER
    assert f"not at {NOW.isoformat()}" in decision.outcome.message


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["payload"].update(persons=2),
        lambda d: d["actor"].update(officer_id="DY-XF-02"),
        lambda d: d.update(occurred_at="2020-03-04T01:30:00Z"),  # the same instant, other bytes
        lambda d: d["signature"].update(department=ZX),  # the signature covers its claim too
        lambda d: d["signature"].update(key_id=DEPARTMENT_SIGNERS[ZX].key_id),
        lambda d: d["signature"].update(
            value=DEPARTMENT_SIGNERS[ZX].sign(d, XF)["signature"]["value"]
        ),
        lambda d: d["signature"].update(value="not base64!"),
        lambda d: d["signature"].update(value=base64.b64encode(b"short").decode()),
    ],
    ids=[
        "payload",
        "actor",
        "instant rewritten",
        "claimed department",
        "claimed key",
        "another key's signature",
        "not base64",
        "too short",
    ],
)
def test_a_submission_changed_after_signing_has_a_bad_signature(tamper: Any) -> None:
    document = signed(register())
    tamper(document)
    rejected(document, RejectionCode.BAD_SIGNATURE, "签名无效", "does not verify")


def test_a_number_that_is_no_integer_cannot_be_signed() -> None:
    with pytest.raises(Unsignable, match="no integer"):
        signed_bytes({"signature": {}, "payload": {"persons": 1.5}})


def test_a_department_key_signing_for_another_department_is_a_mismatch() -> None:
    """信访办's key cannot vouch for 信访办's officer as 综治中心, nor for 综治中心 at all."""
    as_other = DEPARTMENT_SIGNERS[ZX].sign(register(), XF)
    rejected(as_other, RejectionCode.SIGNER_DEPARTMENT_MISMATCH, "签名部门不符", f"is {ZX}'s")
    naming_other = DEPARTMENT_SIGNERS[ZX].sign(register(), ZX)
    rejected(naming_other, RejectionCode.SIGNER_DEPARTMENT_MISMATCH, f"vouches for {ZX}")
    gateway_for_other = GATEWAY.sign(register(), ZX)
    rejected(gateway_for_other, RejectionCode.SIGNER_DEPARTMENT_MISMATCH, "acts for 信访办")


def _clock_warning(actor: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "case.record_deadline_warning",
        "submission_id": str(uuid.uuid4()),
        "case_id": "XF-7",
        "actor": actor,
        "occurred_at": "2020-03-04T09:30:00+08:00",
        "payload": {"clock": "petition.acceptance"},
    }


CLOCK = {"officer_id": "system-clock", "role": "system", "department": "系统"}


@pytest.mark.parametrize(
    ("actor", "signer", "vouching_for", "code"),
    [
        (CLOCK, CLOCK_DEPARTMENT, CLOCK_DEPARTMENT, None),
        (CLOCK, "gateway", CLOCK_DEPARTMENT, RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
        (CLOCK, XF, CLOCK_DEPARTMENT, RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
        (CLOCK, XF, "系统", RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
        ({**ACTOR, "role": "system"}, XF, XF, RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
        ({**ACTOR, "officer_id": "system-clock"}, XF, XF, RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
        (ACTOR, CLOCK_DEPARTMENT, CLOCK_DEPARTMENT, RejectionCode.SIGNER_DEPARTMENT_MISMATCH),
    ],
    ids=[
        "the clock's own key",
        "the gateway for the clock",
        "a department key for the clock",
        "a department key naming the clock's department",
        "an officer claiming the system role",
        "an officer claiming the clock's id",
        "the clock's key for an officer",
    ],
)
def test_only_the_clocks_own_key_vouches_for_the_system_clock(
    actor: dict[str, Any], signer: str, vouching_for: str, code: RejectionCode | None
) -> None:
    key = GATEWAY if signer == "gateway" else DEPARTMENT_SIGNERS[signer]
    document = key.sign(_clock_warning(actor), vouching_for)
    submission = parse_submission(document)
    assert isinstance(submission, SubmissionBase), submission
    vouched = VERIFIER.vouch(json.dumps(document).encode(), submission, NOW)
    if code is None:
        assert vouched == VouchedBy(
            key_id=key.key_id, department=CLOCK_DEPARTMENT, kind="department"
        )
    else:
        assert not isinstance(vouched, VouchedBy)
        assert vouched is not None
        assert vouched.code is code, vouched


# --- resends and the switch -------------------------------------------------------------------


def test_a_resend_however_signed_gets_the_first_answer_and_changes_nothing() -> None:
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    document = signed(register())
    first = state.decide_record(json.dumps(document).encode(), NOW)
    state.commit()
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    forged = Signer.of(new_private_key()).sign(document, XF)
    by_gateway = GATEWAY.sign(document, XF)
    for resent in (unsigned, forged, by_gateway, document):
        again = state.decide_record(json.dumps(resent).encode(), NOW)
        assert (again.outcome, again.events) == (first.outcome, ())


def test_a_record_nobody_vouched_for_never_takes_its_submission_id() -> None:
    """Anyone who may publish could send an unsigned or wrongly signed copy under an id a
    department will use: it is answered, not remembered, so the department's own signed
    submission with that id is still decided, live and after a take-over."""
    state = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    document = register()
    refused = state.decide_record(json.dumps(document).encode(), NOW)
    assert refused.outcome is not None
    assert refused.outcome.code is RejectionCode.UNSIGNED_SUBMISSION
    state.commit()
    assert state.outcomes == {}
    accepted = state.decide_record(json.dumps(signed(document)).encode(), NOW)
    assert accepted.outcome is not None
    assert accepted.outcome.status == "accepted"
    assert accepted.events

    taken_over = PartitionState(OFFICERS, VERIFIER, suite=SUITE)
    taken_over.replay_outcome(refused.outcome)
    assert taken_over.outcomes == {}
    again = taken_over.decide_record(json.dumps(signed(document)).encode(), NOW)
    assert again.outcome is not None
    assert again.outcome.status == "accepted"


def test_signatures_not_required_lets_unsigned_pass_and_still_checks_signed_ones() -> None:
    """CASETRAIL_REQUIRE_SIGNATURES=false: for benchmarks and migrating clients only."""
    lenient = SubmissionVerifier(RING, required=False, suite=SUITE)
    (event,) = decided(register(), lenient).events
    assert event.vouched_by is None
    (vouched,) = decided(signed(register()), lenient).events
    assert vouched.vouched_by is not None
    forged = signed(register())
    forged["payload"]["persons"] = 9
    decision = decided(forged, lenient)
    assert decision.outcome is not None
    assert decision.outcome.code is RejectionCode.BAD_SIGNATURE


# --- the recipe: canonical bytes, fixed vectors, another language -------------------------------


VECTOR: dict[str, Any] = json.loads((VECTORS / "signed_submission.json").read_text("utf-8"))


def test_the_code_still_produces_the_committed_signing_vector() -> None:
    from tests.vectors.make_signing_vectors import vector

    assert vector() == VECTOR


def test_the_vector_as_sent_in_another_layout_is_accepted_with_its_key() -> None:
    """Keys in another order, spaces, escaped characters, 2.0 for 2: the decider checks the
    canonical form of what it parses, so the signature holds."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTOR["private_key_seed_hex"]))
    verifier = SubmissionVerifier(
        KeyRing((ring_key(key, KeyPurpose.DEPARTMENT, XF),)), suite=Suite.INTERNATIONAL
    )
    raw = VECTOR["sent"].encode()
    submission = parse_submission(raw)
    assert isinstance(submission, SubmissionBase)
    at = datetime(2021, 3, 2, 2, tzinfo=UTC)
    assert verifier.vouch(raw, submission, at) == VouchedBy(
        key_id=VECTOR["key_id"], department=XF, kind="department"
    )
    assert signed_bytes(json.loads(raw)).decode() == VECTOR["signed_bytes"]
    assert signature_valid(json.loads(raw), key.public_key())
    resigned = sign_submission(VECTOR["document"], key, XF)
    assert resigned["signature"]["value"] == VECTOR["signature"], "Ed25519 is deterministic"


def test_javascript_signs_and_verifies_like_the_decider() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js checks the recipe in a second language; install it"
    script = VECTORS / "sign_submission.mjs"
    result = subprocess.run(
        [node, str(script), str(VECTORS / "signed_submission.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stdout + result.stderr
