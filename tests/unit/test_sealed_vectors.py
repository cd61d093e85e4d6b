"""Sealed personal values against committed test vectors: the chain covers the ciphertext, the
Python reader opens them, and, independently, the JavaScript verifier does (docs/privacy.md)."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, canonical_json, chain_hash
from events.privacy import pointer_text
from events.sealed import ERASED, sealed_values
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
    assert chain_hash(event) == event["hash"] == vector["hash"]
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
        sealed = Sealer().seal(decided).payload
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
