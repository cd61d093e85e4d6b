"""The pure part of ``casetrail migrate seal-log``: each event of a plaintext log as the sealed
log stores it (upcast, sealed, chained again), and the signed record mapping old hashes onto new
ones, which an auditor checks with the key ring alone. The migration itself, on the real broker
and database: tests/e2e/test_migration.py."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from events.model import Event
from events.sealed import ERASED
from events.suite import Suite
from events.upcasting import CURRENT_VERSIONS, upcast
from services.integrity.checkpoints import Checkpoint, sign
from services.integrity.keyring import KeyPurpose, KeyRing
from services.privacy.cipher import CIPHER_ALG, KEY_BYTES
from services.privacy.migration import (
    Pair,
    PartitionEvidence,
    SuiteChange,
    Unmigratable,
    check_evidence,
    evidence_lines,
    pairs_match_log,
    reseal,
)
from services.privacy.relog import MigrationRefused, _check_prefixes, _check_suite_keys
from services.privacy.sealing import Sealer, open_payload
from services.settings import Settings
from tests.signing import SUITE, private_key, ring_key

OFFICER = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
KEY = private_key("checkpoints")
RING = KeyRing((ring_key(KEY, KeyPurpose.CHECKPOINT),))
NOW = datetime(2026, 5, 1, tzinfo=UTC)


def stored(
    event_type: str, payload: dict[str, Any], version: int = 1, schema_version: int = 1
) -> Event:
    """An event as an old decider appended it: hashed as stored, first of its case."""
    submission = uuid.uuid4()
    fields = Event.model_validate(
        {
            "event_id": str(uuid.uuid5(submission, "0")),
            "case_id": "TS-MIGRATE-1",
            "case_type": event_type.split(".")[0],
            "version": version,
            "type": event_type,
            "schema_version": schema_version,
            "occurred_at": "2019-11-04T01:30:00Z",
            "recorded_at": "2019-11-04T01:31:00Z",
            "actor": OFFICER,
            "department": "信访办",
            "submission_id": str(submission),
            "correlation_id": str(submission),
            "causation_id": str(submission),
            "payload": payload,
            "prev_hash": GENESIS_HASH,
            "hash": GENESIS_HASH,
        }
    ).model_dump(mode="json")
    return Event.model_validate({**fields, "hash": chain_hash(fields, suite=SUITE)})


V1_COMPLAINT = {
    "channel": "phone",
    "subject": "综治中心工作人员态度差",
    "complainant": "王五 13800000000",
    "respondent": "综治中心",
}
PREV = "ab" * 32


def unchanged_envelope(old: Event, new: Event) -> None:
    same = ("event_id", "case_id", "version", "type", "occurred_at", "recorded_at", "actor")
    assert {f: getattr(new, f) for f in same} == {f: getattr(old, f) for f in same}
    assert (new.submission_id, new.correlation_id) == (old.submission_id, old.correlation_id)
    assert new.prev_hash == PREV
    assert new.hash == new.computed_hash(suite=SUITE) != old.hash


def test_a_version_1_complainant_is_upcast_then_sealed_and_opens_as_the_upcast_original() -> None:
    old = stored("complaint.registered", V1_COMPLAINT)
    sealer = Sealer(suite=SUITE)
    done = reseal(old, PREV, sealer, suite=SUITE)
    new = done.event
    unchanged_envelope(old, new)
    assert new.schema_version == CURRENT_VERSIONS["complaint.registered"] == 3
    assert (done.upcast, done.kept_sealed, done.subjects, done.values) == (True, False, 1, 2)
    text = new.model_dump_json()
    assert "王五" not in text
    assert "13800000000" not in text
    assert new.payload["complainant"]["name"]["alg"] == CIPHER_ALG[SUITE]
    keys = {k.subject: k.key for k in sealer.take()}
    assert len(keys) == 1
    assert next(iter(keys.values()))
    opened = open_payload(new.case_id, str(new.event_id), new.payload, keys)
    assert opened == upcast("complaint.registered", 1, dict(V1_COMPLAINT))
    assert opened["complainant"] == {"name": "王五", "phone": "13800000000"}


def test_a_dry_run_counts_subjects_and_values_and_seals_nothing() -> None:
    payload = {
        "channel": "visit",
        "persons": 2,
        "summary": "噪音扰民",
        "petitioners": [{"name": "李四", "phone": "13900000000"}, {"name": "赵六"}],
    }
    done = reseal(stored("petition.registered", payload), PREV, None, suite=SUITE)
    assert (done.subjects, done.values, done.upcast) == (2, 3, False)
    assert done.event.payload == payload  # counted, not sealed


def test_a_step_without_personal_data_keeps_its_payload_and_schema_version() -> None:
    old = stored("complaint.accepted", {"note": "属实，受理"}, version=2)
    done = reseal(old, PREV, Sealer(suite=SUITE), suite=SUITE)
    unchanged_envelope(old, done.event)
    assert (done.event.payload, done.event.schema_version) == (old.payload, 1)
    assert (done.subjects, done.upcast, done.kept_sealed) == (0, False, False)


def test_an_event_sealed_already_keeps_its_ciphertext_which_still_opens() -> None:
    """Appended by a decider that sealed: bound to its case, event id and place, none of which
    the migration changes."""
    sealer = Sealer(suite=SUITE)
    first = reseal(stored("complaint.registered", V1_COMPLAINT), PREV, sealer, suite=SUITE).event
    keys = {k.subject: k.key for k in sealer.take()}
    again = reseal(first, PREV, Sealer(suite=SUITE), suite=SUITE)
    assert again.kept_sealed
    assert again.subjects == 0
    assert again.event.payload == first.payload
    opened = open_payload(first.case_id, str(first.event_id), again.event.payload, keys)
    assert opened["complainant"]["phone"] == "13800000000"


def test_what_the_current_schema_cannot_read_is_refused_not_copied() -> None:
    with pytest.raises(Unmigratable, match="unknown event type"):
        reseal(stored("complaint.teleported", {"x": 1}), PREV, Sealer(suite=SUITE), suite=SUITE)
    unknown_field = {**V1_COMPLAINT, "witness": "张三 13700000000"}
    with pytest.raises(Unmigratable, match="does not read in the current schema"):
        reseal(
            stored("complaint.registered", unknown_field), PREV, Sealer(suite=SUITE), suite=SUITE
        )


@pytest.mark.parametrize(
    ("old", "new"),
    [("casetrail", "casetrail"), ("casetrail", "casetrail.v2"), ("a.b", "a"), ("x", "bad name")],
)
def test_prefixes_that_could_delete_each_other_are_refused(old: str, new: str) -> None:
    with pytest.raises(MigrationRefused):
        _check_prefixes(old, new)
    _check_prefixes("casetrail", "casetrail-sealed")


# --- the migration record ------------------------------------------------------------------------


def record() -> tuple[list[bytes], list[Pair]]:
    """A record of two events on p0: their old and new hashes, each chain signed."""
    pairs = [
        Pair(0, offset, f"{offset:x}" * 64, new, f"{new:x}" * 64, str(uuid.uuid4()), "C-1", v)
        for v, (offset, new) in enumerate([(4, 2), (7, 5)], start=1)
    ]
    old_head = partition_chain(
        partition_chain(GENESIS_HASH, pairs[0].old_hash, suite=SUITE),
        pairs[1].old_hash,
        suite=SUITE,
    )
    new_head = partition_chain(
        partition_chain(GENESIS_HASH, pairs[0].new_hash, suite=SUITE),
        pairs[1].new_hash,
        suite=SUITE,
    )
    partitions = [
        PartitionEvidence(
            0, 2, sign(KEY, 0, 7, 2, old_head, NOW), sign(KEY, 0, 5, 2, new_head, NOW)
        ),
        PartitionEvidence(1, 0, None, None),
    ]
    return evidence_lines("old", "new", partitions, pairs, KEY, NOW, (SUITE, SUITE)), pairs


def test_a_record_checks_with_the_ring_alone() -> None:
    lines, pairs = record()
    check = check_evidence(b"".join(line + b"\n" for line in lines), {SUITE: RING})
    assert check.problems == []
    assert check.pairs == pairs
    assert (check.header["from_prefix"], check.header["to_prefix"]) == ("old", "new")


def test_a_record_altered_signed_by_a_stranger_or_not_matching_its_checkpoints_is_named() -> None:
    lines, _ = record()

    def problems(lines: list[bytes], ring: KeyRing = RING) -> list[str]:
        return check_evidence(b"\n".join(lines), {SUITE: ring}).problems

    assert any("not a checkpoint key" in p for p in problems(lines, KeyRing()))
    changed = json.loads(lines[1])
    changed["new_hash"] = "f" * 64
    altered = [lines[0], json.dumps(changed).encode(), *lines[2:]]
    assert any("changed after it was signed" in p for p in problems(altered))

    # Re-signed by the same key over hashes no signed checkpoint covers: still named.
    header = json.loads(lines[0])
    pairs = [Pair(**json.loads(line)) for line in lines[1:-1]]
    swapped = [pairs[1], pairs[0]]
    partitions = [
        PartitionEvidence(
            p["partition"],
            p["events"],
            p["source_checkpoint"] and Checkpoint.model_validate(p["source_checkpoint"]),
            p["target_checkpoint"] and Checkpoint.model_validate(p["target_checkpoint"]),
        )
        for p in header["partitions"]
    ]
    forged = evidence_lines("old", "new", partitions, swapped, KEY, NOW, (SUITE, SUITE))
    found = problems(forged)
    assert any("old hashes, chained, are not" in p for p in found), found
    assert any("new hashes, chained, are not" in p for p in found), found


def test_a_log_is_matched_against_the_record_event_by_event() -> None:
    _, pairs = record()

    def raw(pair: Pair, side: str) -> bytes:
        event_hash = pair.old_hash if side == "old" else pair.new_hash
        return json.dumps({"event_id": pair.event_id, "hash": event_hash}).encode()

    old_log = [(p.old_offset, raw(p, "old")) for p in pairs]
    new_log = [(p.new_offset, raw(p, "new")) for p in pairs]
    assert pairs_match_log(pairs, old_log, "old") == []
    assert pairs_match_log(pairs, [*new_log, (9, b"{}")], "new") == []  # appended since
    assert pairs_match_log(pairs, new_log[:1], "new") != []
    assert pairs_match_log(pairs, list(reversed(new_log)), "new") != []


# --- a change of cryptographic suite (docs/suite-migration.md) -----------------------------------

OTHER = Suite.GUOMI if SUITE is Suite.INTERNATIONAL else Suite.INTERNATIONAL
"""The suite a log of the tests' suite is moved to."""

PETITION = {
    "channel": "visit",
    "persons": 2,
    "summary": "噪音扰民",
    "petitioners": [{"name": "李四", "phone": "13900000000"}, {"name": "赵六"}],
}


def test_a_suite_change_opens_each_sealed_value_and_seals_it_again_under_a_new_subject() -> None:
    sealer = Sealer(suite=SUITE)
    old = sealer.seal(stored("petition.registered", PETITION))
    keys: dict[str, bytes | None] = {k.subject: k.key for k in sealer.take()}
    li_si, zhao_liu = (old.payload["petitioners"][i]["name"]["subject"] for i in (0, 1))
    keys[zhao_liu] = None  # erased before the migration

    resealer = Sealer(suite=OTHER)
    done = reseal(old, PREV, resealer, OTHER, SuiteChange(keys))
    new = done.event
    assert (done.old_subjects, done.erased, done.kept_sealed) == (frozenset({li_si}), 1, False)
    assert (done.subjects, done.values) == (1, 2)  # 李四's name and phone, one new subject
    assert new.hash == new.computed_hash(suite=OTHER) != old.hash
    assert new.prev_hash == PREV
    li_si_now = new.payload["petitioners"][0]
    assert {v["alg"] for v in li_si_now.values()} == {CIPHER_ALG[OTHER]}
    assert {v["subject"] for v in li_si_now.values()} & {li_si, zhao_liu} == set()
    assert new.payload["petitioners"][1] == old.payload["petitioners"][1]  # erased: as it was
    new_keys: dict[str, bytes | None] = {k.subject: k.key for k in resealer.take()}
    assert {len(k or b"") for k in new_keys.values()} == {KEY_BYTES[CIPHER_ALG[OTHER]]}
    opened = open_payload(new.case_id, str(new.event_id), new.payload, new_keys | keys)
    assert opened["petitioners"] == [{"name": "李四", "phone": "13900000000"}, {"name": ERASED}]

    # A dry run opens too (so that a value that would not is found before anything is written)
    # and seals nothing.
    counted = reseal(old, PREV, None, OTHER, SuiteChange(keys))
    assert counted.event.payload["petitioners"][0] == {"name": "李四", "phone": "13900000000"}
    assert counted.old_subjects == {li_si}


def test_a_suite_change_refuses_a_value_it_cannot_open() -> None:
    sealer = Sealer(suite=SUITE)
    old = sealer.seal(stored("petition.registered", PETITION))
    keys: dict[str, bytes | None] = {k.subject: k.key for k in sealer.take()}
    li_si = old.payload["petitioners"][0]["name"]["subject"]
    for broken in ({s: k for s, k in keys.items() if s != li_si}, {**keys, li_si: b"\0" * 32}):
        with pytest.raises(Unmigratable, match="does not open"):
            reseal(old, PREV, Sealer(suite=OTHER), OTHER, SuiteChange(broken))


def cross_suite_record() -> list[bytes]:
    """A record of one event moved from the tests' suite to the other: the old checkpoint by
    this suite's key, the new one and the record by the other suite's."""
    old_key, new_key = KEY, private_key("checkpoints", OTHER)
    pair = Pair(0, 3, "a" * 64, 0, "b" * 64, str(uuid.uuid4()), "C-1", 1)
    old_head = partition_chain(GENESIS_HASH, pair.old_hash, suite=SUITE)
    new_head = partition_chain(GENESIS_HASH, pair.new_hash, suite=OTHER)
    partition = PartitionEvidence(
        0, 1, sign(old_key, 0, 3, 1, old_head, NOW), sign(new_key, 0, 0, 1, new_head, NOW)
    )
    return evidence_lines("old", "new", [partition], [pair], new_key, NOW, (SUITE, OTHER))


def test_a_record_across_suites_names_both_and_checks_each_side_with_its_suites_ring() -> None:
    lines = cross_suite_record()
    header, trailer = json.loads(lines[0]), json.loads(lines[-1])
    assert (header["from_suite"], header["to_suite"]) == (SUITE, OTHER)
    digest = {Suite.INTERNATIONAL: "sha256", Suite.GUOMI: "sm3"}[OTHER]
    assert trailer[digest] == OTHER.hexdigest(b"".join(line + b"\n" for line in lines[:-1]))
    other_ring = KeyRing((ring_key(private_key("checkpoints", OTHER), KeyPurpose.CHECKPOINT),))
    data = b"".join(line + b"\n" for line in lines)
    assert check_evidence(data, {SUITE: RING, OTHER: other_ring}).problems == []
    # Each side checked with its own suite's ring: swapped, neither checkpoint vouches.
    swapped = check_evidence(data, {SUITE: other_ring, OTHER: RING}).problems
    assert any("not a checkpoint key of the pinned" in p for p in swapped), swapped
    assert any("source's checkpoint vouches for nothing" in p for p in swapped), swapped
    missing = check_evidence(data, {OTHER: other_ring}).problems
    assert missing == [f"no pinned key ring of the suite {SUITE} to check with"]


def test_a_record_within_the_international_suite_names_no_suite() -> None:
    """As records were before suites: the same bytes, checked as before."""
    key = private_key("checkpoints", Suite.INTERNATIONAL)
    lines = evidence_lines("old", "new", [], [], key, NOW, (Suite.INTERNATIONAL,) * 2)
    assert set(json.loads(lines[0])) == {
        "kind",
        "from_prefix",
        "to_prefix",
        "created_at",
        "partitions",
    }
    assert set(json.loads(lines[-1])) == {"sha256", "key_id", "signature"}


def test_a_suite_change_refuses_key_files_that_name_one_suite(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, crypto_suite=SUITE)
    _check_suite_keys(settings, OTHER)  # each suite's keys where Settings.keys_dir puts them
    pinned = settings.model_copy(update={"key_ring_file": tmp_path / "ring.json"})
    _check_suite_keys(pinned, SUITE)  # no change of suite: as before
    with pytest.raises(MigrationRefused, match="CASETRAIL_KEY_RING_FILE name one suite's keys"):
        _check_suite_keys(pinned, OTHER)
