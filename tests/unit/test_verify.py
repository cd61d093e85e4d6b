"""Log verification on records as stored: intact logs pass, each kind of tampering is named."""

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.hashing import GENESIS_HASH, partition_chain
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.integrity.checkpoints import Checkpoint, sign
from services.integrity.log_check import verify_log
from tests.signing import VERIFIER, signed_json

KEY = Ed25519PrivateKey.generate()
NOW = datetime(2020, 6, 2, tzinfo=UTC)
Records = list[tuple[int, int, bytes]]


def logged() -> tuple[Records, list[Checkpoint]]:
    """Three cases of four events on partition 0, with a checkpoint after 6 and after 12."""
    state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER)
    records: Records = []
    for _, value in submissions(12, 4, "verify"):
        for event in state.decide_record(signed_json(value), NOW).events:
            records.append((0, len(records) * 2, event.model_dump_json().encode()))
    head, checkpoints = GENESIS_HASH, []
    for count, (_, offset, raw) in enumerate(records, start=1):
        head = partition_chain(head, json.loads(raw)["hash"])
        if count % 6 == 0:
            checkpoints.append(sign(KEY, 0, offset, count, head, NOW))
    return records, checkpoints


def kinds(records: Records, checkpoints: list[Checkpoint]) -> set[str]:
    return {p.kind for p in verify_log(records, checkpoints, KEY.public_key()).problems}


def test_an_untouched_log_verifies() -> None:
    records, checkpoints = logged()
    report = verify_log(records, checkpoints, KEY.public_key())
    assert report.intact, report.problems
    assert (report.events, report.cases, report.checkpoints) == (12, 3, 2)


def _edit(raw: bytes, **changes: object) -> bytes:
    return json.dumps({**json.loads(raw), **changes}, ensure_ascii=False).encode()


def test_an_altered_event_is_named() -> None:
    records, checkpoints = logged()
    partition, offset, raw = records[5]
    records[5] = (partition, offset, _edit(raw, department="别的部门"))
    assert kinds(records, checkpoints) == {"altered_event"}


def test_an_altered_and_rehashed_event_breaks_the_chains() -> None:
    records, checkpoints = logged()
    partition, offset, raw = records[5]
    forged = json.loads(_edit(raw, department="别的部门"))
    from events.hashing import chain_hash

    forged["hash"] = chain_hash(forged)
    records[5] = (partition, offset, json.dumps(forged).encode())
    assert kinds(records, checkpoints) == {"broken_case_chain", "log_differs_from_checkpoint"}


@pytest.mark.parametrize("where", [1, 6])
def test_a_removed_event_is_named(where: int) -> None:
    records, checkpoints = logged()
    del records[where]
    found = kinds(records, checkpoints)
    assert {"version_gap", "broken_case_chain"} <= found
    assert "truncated_after_checkpoint" in found  # 11 events, a checkpoint covers 12


def test_swapped_events_are_named() -> None:
    records, checkpoints = logged()
    records[4], records[5] = records[5], records[4]
    assert "version_gap" in kinds(records, checkpoints)


def test_a_whole_case_removed_shows_in_the_partition_chain() -> None:
    """Each remaining case's own chain is intact: only the partition chain can tell."""
    records, checkpoints = logged()
    case_of = [json.loads(raw)["case_id"] for _, _, raw in records]
    kept = [r for r, case in zip(records, case_of, strict=True) if case != case_of[-1]]
    assert kinds(kept, checkpoints) == {"truncated_after_checkpoint"}


def test_a_forged_checkpoint_is_named() -> None:
    records, checkpoints = logged()
    other = Ed25519PrivateKey.generate()
    forged = sign(other, 0, checkpoints[0].offset, 6, checkpoints[0].head, NOW)
    assert kinds(records, [forged, checkpoints[1]]) == {"forged_checkpoint"}
    tampered = checkpoints[0].model_copy(update={"count": 5})
    assert kinds(records, [tampered]) == {"forged_checkpoint"}
