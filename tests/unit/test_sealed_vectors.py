"""Sealed personal values against committed test vectors: the chain covers the ciphertext, the
Python reader opens them, and, independently, the JavaScript verifier does (docs/privacy.md)."""

import base64
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, canonical_json, chain_hash
from events.privacy import MASK, pointer_text
from events.sealed import ERASED, sealed_values
from events.suite import Suite
from services.privacy.sealing import Sealer, open_payload
from tests.vectors.make_sealed_vectors import chain, keys_file, vectors

HERE = Path(__file__).resolve().parents[1] / "vectors"
VECTOR_FILE = HERE / "sealed_chain.json"
KEYS_FILE = HERE / "sealed_keys.json"
VECTOR: dict[str, Any] = json.loads(VECTOR_FILE.read_text("utf-8"))
EVENTS: list[dict[str, Any]] = [item["event"] for item in VECTOR["events"]]
KEYS = {subject: base64.b64decode(key) for subject, key in VECTOR["keys"].items()}
DESTROYED: str = VECTOR["key_destroyed"]["subject"]


def test_the_code_still_produces_the_committed_vectors() -> None:
    assert vectors() == VECTOR
    assert json.loads(KEYS_FILE.read_text("utf-8")) == keys_file(VECTOR)


def test_the_vectors_hold_what_they_claim() -> None:
    """Two cases, sealed values in both, a plain event after each, one subject per person."""
    assert [e["type"] for e in EVENTS] == [
        "complaint.registered",
        "complaint.accepted",
        "petition.registered",
        "petition.accepted",
    ]
    subjects = [{v["subject"] for _, v in sealed_values(e["payload"])} for e in EVENTS]
    assert [len(found) for found in subjects] == [1, 0, 2, 0]
    assert DESTROYED in subjects[2]
    assert set(KEYS) == subjects[0] | subjects[2]
    assert len(VECTOR["opened"]) == 8
    assert VECTOR["key_destroyed"]["erased"] == ["/petitioners/1/name", "/petitioners/1/address"]


@pytest.mark.parametrize("vector", VECTOR["events"], ids=lambda v: v["event"]["type"])
def test_the_hash_covers_the_stored_ciphertext(vector: dict[str, Any]) -> None:
    event = vector["event"]
    without_hash = {k: v for k, v in event.items() if k != "hash"}
    assert canonical_json(without_hash).decode() == vector["canonical"]
    assert chain_hash(event, suite=Suite.INTERNATIONAL) == event["hash"] == vector["hash"]
    for _, sealed in sealed_values(event["payload"]):
        assert sealed["ciphertext"] in vector["canonical"]


def test_each_case_forms_a_chain() -> None:
    heads: dict[str, str] = {}
    for event in EVENTS:
        assert event["prev_hash"] == heads.get(event["case_id"], GENESIS_HASH)
        heads[event["case_id"]] = event["hash"]


def test_the_vectors_are_sealed_where_the_decider_seals() -> None:
    """The generator fixes what the decider draws at random (subject ids, keys, nonces); the
    places it seals, and which values share a subject, are the decider's own."""
    _, plain = chain({})
    for stored, decided in zip(EVENTS, plain, strict=True):
        sealed = Sealer(suite=Suite.INTERNATIONAL).seal(decided).payload
        ours = sealed_values(stored["payload"])
        theirs = sealed_values(sealed)
        assert [where for where, _ in ours] == [where for where, _ in theirs]
        pairs = {(v["subject"], t["subject"]) for (_, v), (_, t) in zip(ours, theirs, strict=True)}
        # the same grouping into subjects, only named otherwise: a one-to-one renaming
        assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def test_python_opens_the_vectors_to_the_expected_plaintexts() -> None:
    by_place = {(o["event_id"], o["pointer"]): o["plaintext"] for o in VECTOR["opened"]}
    for event, expected in zip(EVENTS, VECTOR["opened_payloads"], strict=True):
        opened = open_payload(event["case_id"], event["event_id"], event["payload"], KEYS)
        assert opened == expected
        for where, _ in sealed_values(event["payload"]):
            value: Any = opened
            for part in where:
                value = value[part]
            assert value == by_place.pop((event["event_id"], pointer_text(where)))
    assert not by_place  # every value the vectors list was opened


def test_python_reads_a_destroyed_key_as_erased_and_the_rest_opened() -> None:
    keys: dict[str, bytes | None] = {**KEYS, DESTROYED: None}
    event = EVENTS[2]
    opened = open_payload(event["case_id"], event["event_id"], event["payload"], keys)
    expected = VECTOR["opened_payloads"][2]
    assert opened["petitioners"][0] == expected["petitioners"][0]
    assert opened["petitioners"][1] == {
        **expected["petitioners"][1],
        "name": ERASED,
        "address": ERASED,
    }


# --- The JavaScript verifier (verify_chain.mjs), a second implementation ---------------------

OPENED = re.compile(r'^opened (\S+) v(\d+) ("[^"]*") subject (\S+): (.*)$')


def _node(events: Path, keys: Path | None = None) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "Node.js verifies the vectors in a second language; install it"
    script = HERE / "verify_chain.mjs"
    extra = [] if keys is None else ["--keys", str(keys)]
    return subprocess.run(
        [node, str(script), str(events), *extra], capture_output=True, text=True, check=False
    )


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def _opened(stdout: str) -> set[tuple[str, int, str, str, str]]:
    """(case, version, pointer, subject, plaintext) of each value the verifier opened."""
    found = set()
    for line in stdout.splitlines():
        if match := OPENED.match(line):
            case_id, version, pointer, subject, plaintext = match.groups()
            found.add((case_id, int(version), json.loads(pointer), subject, json.loads(plaintext)))
    return found


def _expected(leave_out: str = "") -> set[tuple[str, int, str, str, str]]:
    return {
        (
            EVENTS[o["event"]]["case_id"],
            EVENTS[o["event"]]["version"],
            o["pointer"],
            o["subject"],
            o["plaintext"],
        )
        for o in VECTOR["opened"]
        if o["subject"] != leave_out
    }


def _rechained(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events hashed again, each case's chain from the start: what someone who can rewrite
    the whole log could do. Only the seal's binding can then tell a value was moved."""
    heads: dict[str, str] = {}
    for event in events:
        event["prev_hash"] = heads.get(event["case_id"], GENESIS_HASH)
        event["hash"] = heads[event["case_id"]] = chain_hash(event, suite=Suite.INTERNATIONAL)
    return events


def test_javascript_verifies_the_chain_over_the_ciphertext() -> None:
    result = _node(VECTOR_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{len(EVENTS)} events verified"


def test_javascript_opens_every_value_to_the_expected_plaintext(tmp_path: Path) -> None:
    result = _node(VECTOR_FILE, _write(tmp_path / "keys.json", VECTOR["keys"]))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(EVENTS)} events verified"
    assert _opened(result.stdout) == _expected()
    assert lines[-1] == "sealed values: 8 opened, 0 erased, 0 do not open"
    assert "erased" not in result.stdout.replace("0 erased", "")


@pytest.mark.parametrize("how", ["withheld", "null"])
def test_javascript_reports_a_subject_without_key_erased_and_still_verifies(
    how: str, tmp_path: Path
) -> None:
    keys = KEYS_FILE  # the committed keys file leaves the destroyed subject's key out
    if how == "null":
        keys = _write(tmp_path / "keys.json", {**VECTOR["keys"], DESTROYED: None})
    result = _node(VECTOR_FILE, keys)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{len(EVENTS)} events verified"
    assert _opened(result.stdout) == _expected(leave_out=DESTROYED)
    assert f"erased subject {DESTROYED}: no key (2 sealed values)" in lines
    assert lines[-1] == "sealed values: 6 opened, 2 erased, 0 do not open"


@pytest.mark.parametrize(
    ("order", "verifies"),
    [([2, 0, 3, 1], True), ([0, 1, 3, 2], False), ([0, 1, 3], False), ([1, 2, 3], False)],
    ids=["cases interleaved", "swapped", "registration dropped", "case's first dropped"],
)
def test_javascript_checks_each_case_s_chain_on_its_own(
    order: list[int], verifies: bool, tmp_path: Path
) -> None:
    """Events of several cases may come interleaved (as on a partition of the log); each
    case's own events must still chain from the start, in order."""
    result = _node(_write(tmp_path / "events.json", [EVENTS[i] for i in order]))
    assert result.returncode == (0 if verifies else 1), result.stdout + result.stderr
    assert ("does not verify" in result.stdout) is not verifies


def _flip(sealed: dict[str, str], at: int) -> None:
    raw = bytearray(base64.b64decode(sealed["ciphertext"]))
    raw[at] ^= 0x01
    sealed["ciphertext"] = base64.b64encode(bytes(raw)).decode()


def _alter(events: list[dict[str, Any]], how: str) -> list[str]:
    """Alters the stored events as ``how`` says; the places (as the verifier prints them) of
    the values that must then not open."""
    complaint, petition = events[0]["payload"], events[2]["payload"]
    first, second = petition["petitioners"]
    place = 'XF-2021-0042 v1 "/petitioners/{}/{}"'
    if how in ("nonce", "ciphertext", "tag"):
        _flip(first["name"], {"nonce": 0, "ciphertext": 12, "tag": -1}[how])
        return [place.format(0, "name")]
    if how == "swapped within a person":
        first["name"], first["phone"] = first["phone"], first["name"]
        return [place.format(0, "name"), place.format(0, "phone")]
    if how == "moved to another person":
        second["name"] = first["name"]
        return [place.format(1, "name")]
    if how == "subject relabelled":
        second["name"]["subject"] = first["name"]["subject"]
        return [place.format(1, "name")]
    if how == "copied into a later event":
        events[1]["payload"]["complainant"] = {"name": complaint["complainant"]["name"]}
        return ['TS-2021-0007 v2 "/complainant/name"']
    assert how == "moved to another case"
    events[2]["case_id"] = events[3]["case_id"] = "XF-2021-0043"
    moved = 'XF-2021-0043 v1 "/petitioners/{}/{}"'
    return [moved.format(0, f) for f in ("name", "id_number", "phone")] + [
        moved.format(1, f) for f in ("name", "address")
    ]


ALTERATIONS = [
    "nonce",
    "ciphertext",
    "tag",
    "swapped within a person",
    "moved to another person",
    "subject relabelled",
    "copied into a later event",
    "moved to another case",
]


@pytest.mark.parametrize("how", ALTERATIONS)
def test_javascript_refuses_an_altered_or_moved_value_even_in_a_rewritten_chain(
    how: str, tmp_path: Path
) -> None:
    events = copy.deepcopy(EVENTS)
    failing = _alter(events, how)
    keys = _write(tmp_path / "keys.json", VECTOR["keys"])
    as_stored = _node(_write(tmp_path / "altered.json", events), keys)
    assert as_stored.returncode == 1  # the chain covers the ciphertext and where it sits
    assert "does not verify" in as_stored.stdout
    assert "opened" not in as_stored.stdout

    result = _node(_write(tmp_path / "rewritten.json", _rechained(events)), keys)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"{len(EVENTS)} events verified"
    refused = [line for line in result.stdout.splitlines() if line.startswith("does not open")]
    places = [line.split(" subject ")[0].removeprefix("does not open ") for line in refused]
    assert places == failing
    assert all(line.endswith("wrong key, altered, or moved") for line in refused)
    opened = len(_expected()) - len(failing) + (how == "copied into a later event")
    assert result.stdout.splitlines()[-1] == (
        f"sealed values: {opened} opened, 0 erased, {len(failing)} do not open"
    )


def test_the_python_reader_refuses_the_same_alterations() -> None:
    """The two implementations agree on what does not open: Python masks what JS refuses."""
    for how in ALTERATIONS:
        events = copy.deepcopy(EVENTS)
        failing = _alter(events, how)
        masked = []
        for event in events:
            opened = open_payload(event["case_id"], event["event_id"], event["payload"], KEYS)
            for where, _ in sealed_values(event["payload"]):
                value: Any = opened
                for part in where:
                    value = value[part]
                if value == MASK:
                    place = f"{event['case_id']} v{event['version']} "
                    masked.append(place + json.dumps(pointer_text(where)))
        assert masked == failing, how


@pytest.mark.parametrize(
    "keys",
    [{"x": "AAAA"}, ["not", "an", "object"], {"x": "not base64!" + "A" * 33}],
    ids=["short key", "not an object", "not base64"],
)
def test_javascript_refuses_an_unusable_keys_file(keys: Any, tmp_path: Path) -> None:
    result = _node(VECTOR_FILE, _write(tmp_path / "keys.json", keys))
    assert result.returncode == 3, result.stdout + result.stderr
