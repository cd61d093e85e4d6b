"""The hash chain against committed test vectors, in Python and, independently, in JavaScript."""

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, canonical_json, chain_hash
from events.suite import Suite
from tests.vectors.make_hash_vectors import vectors

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "hash_chain.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text("utf-8"))


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["event"]["type"])
def test_canonical_form_and_hash_match_the_vectors(vector: dict[str, Any]) -> None:
    event = vector["event"]
    without_hash = {k: v for k, v in event.items() if k != "hash"}
    assert canonical_json(without_hash).decode() == vector["canonical"]
    assert hashlib.sha256(vector["canonical"].encode()).hexdigest() == vector["hash"]
    assert chain_hash(event, suite=Suite.INTERNATIONAL) == event["hash"] == vector["hash"]


def test_vectors_form_a_chain() -> None:
    previous = GENESIS_HASH
    for vector in VECTORS:
        assert vector["event"]["prev_hash"] == previous
        previous = vector["hash"]


def test_the_code_still_produces_the_committed_vectors() -> None:
    """Same inputs, same bytes: a change to serialisation (a datetime format, a field order
    that leaks, a default) would silently break every stored chain."""
    assert vectors() == VECTORS


def _node(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "Node.js verifies the vectors in a second language; install it"
    script = VECTORS_FILE.with_name("verify_chain.mjs")
    return subprocess.run(
        [node, str(script), str(path)], capture_output=True, text=True, check=False
    )


def test_javascript_verifies_the_chain() -> None:
    result = _node(VECTORS_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{len(VECTORS)} events verified"


@pytest.mark.parametrize(
    "tamper",
    ["payload", "swap", "drop"],
)
def test_javascript_notices_tampering(tamper: str, tmp_path: Path) -> None:
    events = [dict(v) for v in json.loads(VECTORS_FILE.read_text("utf-8"))]
    if tamper == "payload":
        events[1]["event"]["payload"]["note"] = "不符合受理条件"
    elif tamper == "swap":
        events[1], events[2] = events[2], events[1]
    else:
        del events[1]
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(events, ensure_ascii=False), "utf-8")
    result = _node(altered)
    assert result.returncode == 1
    assert "does not verify" in result.stdout


@pytest.mark.parametrize(
    "value",
    [
        {"s": 'a\u2028b\u007f\x01\x1f"\\/é😀', "n": -12, "t": True, "z": None},
        {"nested": {"b": 1, "a": [1, {"y": 2, "x": 3}]}, "empty": {}, "list": []},
        {"长": "中文", "ascii": "plain", "tab\t": "key with a tab"},
    ],
)
def test_canonical_json_is_the_standard_library_s_sorted_compact_form(
    value: dict[str, Any],
) -> None:
    """The definition is json.dumps(sort_keys, compact, ensure_ascii=False); the fast encoder
    must produce exactly those bytes."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode()
