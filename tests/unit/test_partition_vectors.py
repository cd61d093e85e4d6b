"""The partition chain and signed checkpoints against committed vectors, in Python and,
independently, in JavaScript. The decider and ``casetrail verify`` share one function for the
partition chain: without these vectors, a change to its rule (its two inputs swapped, say)
would pass every other test while breaking every checkpoint already on a log."""

import hashlib
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, partition_chain
from events.suite import Suite
from services.decider.runtime import PartitionChain
from services.integrity.checkpoints import Checkpoint, signature_valid
from services.integrity.keyring import KeyRing, RingKey
from services.integrity.log_check import verify_log
from tests.vectors.make_partition_vectors import ring, vectors

HERE = Path(__file__).resolve().parents[1] / "vectors"
VECTOR_FILE = HERE / "partition_chain.json"
RING_FILE = HERE / "checkpoint_ring.json"
VECTOR: dict[str, Any] = json.loads(VECTOR_FILE.read_text("utf-8"))
RING = KeyRing(tuple(RingKey.from_json(k) for k in json.loads(RING_FILE.read_text())["keys"]))
RECORDS: list[dict[str, Any]] = VECTOR["records"]
CHECKPOINTS = [Checkpoint.model_validate(c["record"]) for c in VECTOR["checkpoints"]]


def test_the_code_still_produces_the_committed_vectors() -> None:
    assert vectors() == VECTOR
    assert ring() == json.loads(RING_FILE.read_text("utf-8"))


def test_the_heads_follow_the_documented_rule() -> None:
    """The rule written out here, apart from the code: SHA-256 of the previous head's hex text
    followed by the event's hash. The committed heads and ``partition_chain`` both obey it."""
    head = GENESIS_HASH
    for record in RECORDS:
        head = hashlib.sha256((head + record["event"]["hash"]).encode("ascii")).hexdigest()
        assert record["head"] == head
    head = GENESIS_HASH
    for record in RECORDS:
        head = partition_chain(head, record["event"]["hash"], suite=Suite.INTERNATIONAL)
        assert record["head"] == head


def test_the_decider_chains_the_partition_to_the_committed_heads() -> None:
    hashes = [record["event"]["hash"] for record in RECORDS]
    chain = PartitionChain(suite=Suite.INTERNATIONAL).extended(hashes[:5], RECORDS[4]["offset"])
    assert (chain.head, chain.count, chain.last_offset) == (RECORDS[4]["head"], 5, 7)
    chain = chain.extended(hashes[5:], RECORDS[-1]["offset"])
    assert (chain.head, chain.count) == (RECORDS[-1]["head"], 8)


def test_the_checkpoints_are_signed_over_those_heads() -> None:
    (key,) = RING.keys
    for checkpoint, vector in zip(CHECKPOINTS, VECTOR["checkpoints"], strict=True):
        assert checkpoint.signed_bytes().decode() == vector["signed_bytes"]
        assert signature_valid(checkpoint, key.public_key)
        covered = RECORDS[checkpoint.count - 1]
        assert (checkpoint.head, checkpoint.offset) == (covered["head"], covered["offset"])


def _records(records: list[dict[str, Any]]) -> list[tuple[int, int, bytes]]:
    return [(0, r["offset"], json.dumps(r["event"], ensure_ascii=False).encode()) for r in records]


NOW = datetime(2021, 4, 9, tzinfo=UTC)


def test_verify_finds_the_vector_partition_intact() -> None:
    report = verify_log(
        _records(RECORDS), CHECKPOINTS, RING, NOW, timedelta(0), suite=Suite.INTERNATIONAL
    )
    assert report.problems == []
    assert (report.events, report.cases, report.checkpoints) == (8, 3, 2)


def test_verify_notices_two_cases_swapped_that_each_case_chain_misses() -> None:
    """Offsets 2 and 4 hold events of two different cases: each case's chain still holds when
    they change places; only the partition chain, and so the checkpoint, tells."""
    swapped = [dict(r) for r in RECORDS]
    swapped[1]["event"], swapped[2]["event"] = swapped[2]["event"], swapped[1]["event"]
    report = verify_log(
        _records(swapped), CHECKPOINTS, RING, NOW, timedelta(0), suite=Suite.INTERNATIONAL
    )
    assert [p.kind.value for p in report.problems] == ["log_differs_from_checkpoint"] * 2


# --- The JavaScript verifier (verify_chain.mjs --ring), a second implementation -------------


def _node(path: Path, ring_file: Path = RING_FILE) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "Node.js verifies the vectors in a second language; install it"
    script = HERE / "verify_chain.mjs"
    return subprocess.run(
        [node, str(script), str(path), "--ring", str(ring_file)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_javascript_verifies_the_partition_and_its_checkpoints() -> None:
    result = _node(VECTOR_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "8 events verified",
        f"partition chain of 8 events: head {RECORDS[-1]['head']}",
        f"checkpoint p0 count 5 at offset 7 verified (key {CHECKPOINTS[0].key_id})",
        f"checkpoint p0 count 8 at offset 12 verified (key {CHECKPOINTS[0].key_id})",
    ]


def _swap_cases(vector: dict[str, Any]) -> None:
    records = vector["records"]
    records[1]["event"], records[2]["event"] = records[2]["event"], records[1]["event"]


def _forge(vector: dict[str, Any]) -> None:
    vector["checkpoints"][0]["record"]["head"] = vector["records"][3]["head"]


def _truncate(vector: dict[str, Any]) -> None:
    del vector["records"][-1]


def _move(vector: dict[str, Any]) -> None:
    vector["checkpoints"][1]["record"]["offset"] = 13


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (_swap_cases, "checkpoint p0 count 5: the partition's chain does not verify against it"),
        (_forge, "checkpoint p0 count 5: its signature does not verify with key"),
        (_truncate, "checkpoint p0 count 8: covers more events than the partition holds"),
        (_move, "checkpoint p0 count 8: its signature does not verify with key"),
    ],
    ids=["two cases swapped", "head replaced", "last event dropped", "offset moved"],
)
def test_javascript_notices_tampering(tamper: Any, says: str, tmp_path: Path) -> None:
    vector = json.loads(VECTOR_FILE.read_text("utf-8"))
    tamper(vector)
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(vector, ensure_ascii=False), "utf-8")
    result = _node(altered)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith(says), result.stdout


def test_javascript_trusts_only_the_ring_it_is_given(tmp_path: Path) -> None:
    other = tmp_path / "ring.json"
    other.write_text(json.dumps({"keys": []}), "utf-8")
    result = _node(VECTOR_FILE, other)
    assert result.returncode == 1
    assert "is not a checkpoint key of the ring" in result.stdout
