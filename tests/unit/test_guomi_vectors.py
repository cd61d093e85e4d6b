"""The guomi suite's vectors (tests/vectors/guomi/: the same events, chained with SM3, sealed
with SM4-GCM, a partition signed with SM2), in Python and, independently, in JavaScript with
sm-crypto-v2: the per-case chain, the per-partition chain, the signed checkpoints, the sealed
values; and each suite's verifier refusing the other's log."""

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from events.hashing import GENESIS_HASH, canonical_json, chain_hash
from events.suite import Suite
from services.integrity.checkpoints import Checkpoint, signature_valid
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey
from services.integrity.log_check import verify_log
from services.integrity.problems import ProblemKind
from services.privacy.sealing import open_payload
from tests.vectors import make_hash_vectors, make_partition_vectors, make_sealed_vectors
from tests.vectors.node import HERE, node

GUOMI = HERE / "guomi"


def _load(name: str) -> Any:
    return json.loads((GUOMI / name).read_text("utf-8"))


HASHES: list[dict[str, Any]] = _load("hash_chain.json")
SEALED: dict[str, Any] = _load("sealed_chain.json")
PARTITION: dict[str, Any] = _load("partition_chain.json")
RING = KeyRing(tuple(RingKey.from_json(k) for k in _load("checkpoint_ring.json")["keys"]))
CHECKPOINTS = [Checkpoint.model_validate(c["record"]) for c in PARTITION["checkpoints"]]
NOW = datetime(2021, 4, 9, tzinfo=UTC)


def _unsigned(vector: dict[str, Any]) -> dict[str, Any]:
    """The partition vector without its SM2 signatures (randomised: new ones each run)."""
    copy: dict[str, Any] = json.loads(json.dumps(vector))
    for checkpoint in copy["checkpoints"]:
        checkpoint["record"]["signature"] = ""
    return copy


def test_the_code_still_produces_the_committed_guomi_vectors() -> None:
    assert make_hash_vectors.vectors(Suite.GUOMI) == HASHES
    assert make_sealed_vectors.vectors(Suite.GUOMI) == SEALED
    assert make_sealed_vectors.keys_file(SEALED) == _load("sealed_keys.json")
    assert _unsigned(make_partition_vectors.vectors(Suite.GUOMI)) == _unsigned(PARTITION)
    assert make_partition_vectors.ring(Suite.GUOMI) == _load("checkpoint_ring.json")


def test_the_guomi_chain_is_sm3_over_the_same_canonical_form() -> None:
    international = json.loads((HERE / "hash_chain.json").read_text("utf-8"))
    previous = GENESIS_HASH
    for vector, same in zip(HASHES, international, strict=True):
        event = vector["event"]
        # The same event but for its chain: the canonical form differs only in prev_hash.
        assert (
            vector["canonical"].replace(event["prev_hash"], same["event"]["prev_hash"])
            == (same["canonical"])
        )
        assert hashlib.new("sm3", vector["canonical"].encode()).hexdigest() == vector["hash"]
        assert (
            chain_hash(event, Suite.GUOMI)
            == event["hash"]
            != chain_hash(event, Suite.INTERNATIONAL)
        )
        assert event["prev_hash"] == previous
        previous = event["hash"]


def test_the_guomi_partition_heads_follow_the_rule_with_sm3() -> None:
    head = GENESIS_HASH
    for record in PARTITION["records"]:
        head = hashlib.new("sm3", (head + record["event"]["hash"]).encode()).hexdigest()
        assert record["head"] == head


def test_the_committed_sm2_checkpoints_verify_and_name_their_suite() -> None:
    (key,) = RING.keys
    for checkpoint, vector in zip(CHECKPOINTS, PARTITION["checkpoints"], strict=True):
        assert checkpoint.suite is Suite.GUOMI
        assert checkpoint.signed_bytes() == vector["signed_bytes"].encode()
        assert canonical_json(json.loads(vector["signed_bytes"])) == checkpoint.signed_bytes()
        assert signature_valid(checkpoint, key.public_key)


def _records(partition: dict[str, Any]) -> list[tuple[int, int, bytes]]:
    return [
        (0, r["offset"], json.dumps(r["event"], ensure_ascii=False).encode())
        for r in partition["records"]
    ]


def test_verify_under_guomi_finds_the_partition_intact_and_international_refuses_it() -> None:
    report = verify_log(_records(PARTITION), CHECKPOINTS, RING, NOW, timedelta(0), Suite.GUOMI)
    assert report.problems == []
    assert (report.events, report.checkpoints) == (8, 2)
    other = verify_log(
        _records(PARTITION), CHECKPOINTS, RING, NOW, timedelta(0), suite=Suite.INTERNATIONAL
    )
    kinds = {p.kind for p in other.problems}
    assert ProblemKind.SUITE_MISMATCH in kinds
    assert ProblemKind.ALTERED_EVENT in kinds  # SHA-256 is not the hash these events carry


def test_the_guomi_sealed_values_open_to_the_decided_payloads() -> None:
    keys = {subject: base64.b64decode(k) for subject, k in SEALED["keys"].items()}
    for vector, payload in zip(SEALED["events"], SEALED["opened_payloads"], strict=True):
        event = vector["event"]
        opened = open_payload(event["case_id"], event["event_id"], event["payload"], keys)
        assert opened == payload


# --- The JavaScript verifier, with sm-crypto-v2 ---------------------------------------------


def test_javascript_verifies_the_guomi_vectors() -> None:
    result = node("verify_chain.mjs", GUOMI / "hash_chain.json", "--suite", "guomi", guomi=True)
    assert (result.returncode, result.stdout.strip()) == (0, "4 events verified"), result.stderr
    ring = GUOMI / "checkpoint_ring.json"
    args = (GUOMI / "partition_chain.json", "--ring", ring, "--suite", "guomi")
    result = node("verify_chain.mjs", *args, guomi=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kid = CHECKPOINTS[0].key_id
    assert result.stdout.splitlines()[-2:] == [
        f"checkpoint p0 count 5 at offset 7 verified (key {kid})",
        f"checkpoint p0 count 8 at offset 12 verified (key {kid})",
    ]
    keys = GUOMI / "sealed_keys.json"
    args = (GUOMI / "sealed_chain.json", "--keys", keys, "--suite", "guomi")
    result = node("verify_chain.mjs", *args, guomi=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "sealed values: 6 opened, 2 erased, 0 do not open"


def _swap(vector: dict[str, Any]) -> None:
    records = vector["records"]
    records[1]["event"], records[2]["event"] = records[2]["event"], records[1]["event"]


def _sign_again_elsewhere(vector: dict[str, Any]) -> None:
    vector["checkpoints"][1]["record"]["count"] = 7


@pytest.mark.parametrize(
    ("tamper", "suite", "says"),
    [
        (_swap, "guomi", "checkpoint p0 count 5: the partition's chain does not verify"),
        (_sign_again_elsewhere, "guomi", "checkpoint p0 count 7: its signature does not verify"),
        (None, "international", "event 0 (TS-2020-0001 version 1) does not verify"),
    ],
    ids=["two cases swapped", "count changed", "read as international"],
)
def test_javascript_refuses_a_tampered_or_misread_guomi_partition(
    tamper: Any, suite: str, says: str, tmp_path: Path
) -> None:
    vector = json.loads(json.dumps(PARTITION))
    if tamper is not None:
        tamper(vector)
    altered = tmp_path / "partition.json"
    altered.write_text(json.dumps(vector, ensure_ascii=False), "utf-8")
    args = (altered, "--ring", GUOMI / "checkpoint_ring.json", "--suite", suite)
    result = node("verify_chain.mjs", *args, guomi=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(says), result.stdout


def test_javascript_under_guomi_refuses_the_international_partition() -> None:
    args = (HERE / "partition_chain.json", "--ring", HERE / "checkpoint_ring.json")
    result = node("verify_chain.mjs", *args, "--suite", "guomi", guomi=True)
    assert result.returncode == 1
    assert "does not verify" in result.stdout


# --- A submission signed with SM2 ---------------------------------------------------------

SIGNED: dict[str, Any] = _load("signed_submission.json")


def _without_signatures(vector: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(vector))
    copy["signature"] = copy["signed_document"]["signature"]["value"] = ""
    del copy["sent"]
    return copy


def test_the_code_still_produces_the_committed_sm2_signing_vector() -> None:
    from tests.vectors.make_signing_vectors import sm2_vector

    fresh = sm2_vector()
    assert _without_signatures(fresh) == _without_signatures(SIGNED)
    assert fresh["signature"] != SIGNED["signature"], "SM2 signatures are randomised"


def _sm2_verifier() -> Any:
    from services.integrity.algorithms import Algorithm, public_from_raw
    from services.integrity.signing import SubmissionVerifier

    public = public_from_raw(Algorithm.SM2, bytes.fromhex(SIGNED["public_key_hex"]))
    since = datetime(2000, 1, 1, tzinfo=UTC)
    key = RingKey(SIGNED["key_id"], KeyPurpose.DEPARTMENT, public, since, None, "信访办")
    return SubmissionVerifier(KeyRing((key,)), suite=Suite.GUOMI), public


def test_the_decider_accepts_the_sm2_signed_vector_as_sent() -> None:
    from events.model import VouchedBy
    from events.submissions import SubmissionBase, parse_submission

    verifier, _ = _sm2_verifier()
    raw = SIGNED["sent"].encode()
    submission = parse_submission(raw)
    assert isinstance(submission, SubmissionBase)
    assert verifier.vouch(raw, submission, NOW) == VouchedBy(
        key_id=SIGNED["key_id"], department="信访办", kind="department"
    )


def test_javascript_checks_the_sm2_vector_and_its_signature_verifies_in_python() -> None:
    from services.integrity.signing import signature_valid

    result = node(
        "sign_submission.mjs", GUOMI / "signed_submission.json", "--suite", "guomi", guomi=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ok, theirs = result.stdout.split()
    assert ok == "ok"
    _, public = _sm2_verifier()
    claim = {"key_id": SIGNED["key_id"], "department": "信访办", "value": theirs}
    document = {**SIGNED["document"], "signature": claim}
    assert signature_valid(document, public)
    assert not signature_valid({**document, "case_id": "XF-2021-0043"}, public)


# --- One encoding of an SM2 signature, in both languages -----------------------------------

DER_CASES: list[dict[str, Any]] = _load("sm2_der_cases.json")


def _der_verdicts(verify: Any) -> dict[str, str]:
    data = SIGNED["signed_bytes"].encode()
    verdicts = {}
    for case in DER_CASES:
        try:
            verify(base64.b64decode(case["signature"]), data)
            verdicts[case["name"]] = "accepted"
        except InvalidSignature:
            verdicts[case["name"]] = "refused"
    return verdicts


EXPECTED_DER = {case["name"]: "refused" for case in DER_CASES} | {"canonical": "accepted"}


def test_the_der_cases_are_the_committed_signature_written_otherwise() -> None:
    from tests.vectors.make_signing_vectors import der_cases

    assert der_cases(base64.b64decode(SIGNED["signature"])) == DER_CASES
    assert len(EXPECTED_DER) == 11


def test_python_verifies_only_the_canonical_der_of_an_sm2_signature() -> None:
    _, public = _sm2_verifier()
    assert _der_verdicts(public.verify) == EXPECTED_DER


def test_the_canonical_der_rule_is_casetrails_not_the_librarys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tongsuo refuses these encodings today, sm-crypto-v2 does not: the rule must not hang on
    a library's version. With a library that accepts anything, only the canonical one passes."""
    _, public = _sm2_verifier()
    monkeypatch.setattr(public, "_key", SimpleNamespace(verify=lambda *_: None))
    assert _der_verdicts(public.verify) == EXPECTED_DER


def test_javascript_verifies_only_the_canonical_der_of_an_sm2_signature() -> None:
    args = ("--suite", "guomi", "--der-cases", GUOMI / "sm2_der_cases.json")
    result = node("sign_submission.mjs", GUOMI / "signed_submission.json", *args, guomi=True)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = dict(line.split(": ") for line in result.stdout.splitlines()[2:])
    assert verdicts == EXPECTED_DER


def test_javascript_refuses_a_checkpoint_signature_in_another_encoding(tmp_path: Path) -> None:
    vector = json.loads(json.dumps(PARTITION))
    record = vector["checkpoints"][0]["record"]
    record["signature"] = base64.b64encode(base64.b64decode(record["signature"]) + b"\0").decode()
    altered = tmp_path / "partition.json"
    altered.write_text(json.dumps(vector, ensure_ascii=False), "utf-8")
    args = (altered, "--ring", GUOMI / "checkpoint_ring.json", "--suite", "guomi")
    result = node("verify_chain.mjs", *args, guomi=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        "checkpoint p0 count 5: its signature does not verify"
    )
