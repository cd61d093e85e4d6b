"""Log verification on records as stored: intact logs pass, each kind of tampering is named;
only checkpoints signed with a key of the pinned ring count, and events none covers are named
once older than the grace period."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.integrity.algorithms import PrivateKey
from services.integrity.checkpoints import Checkpoint, sign
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey, key_id
from services.integrity.log_check import LogReport, verify_log
from tests.signing import SUITE, VERIFIER, new_private_key, signed_json

KEY = new_private_key()
NOW = datetime(2020, 6, 2, tzinfo=UTC)
GRACE = timedelta(seconds=60)
LATER = NOW + timedelta(hours=1)
"""When verify runs long after the events: whatever no checkpoint covers is a problem."""
Records = list[tuple[int, int, bytes]]


def ring_of(
    key: PrivateKey = KEY,
    purpose: KeyPurpose = KeyPurpose.CHECKPOINT,
    since: datetime = datetime(2020, 1, 1, tzinfo=UTC),
    until: datetime | None = None,
) -> KeyRing:
    public = key.public_key()
    department = "信访办" if purpose is KeyPurpose.DEPARTMENT else None
    return KeyRing((RingKey(key_id(public), purpose, public, since, until, department),))


RING = ring_of()


def logged() -> tuple[Records, list[Checkpoint]]:
    """Three cases of four events on partition 0, with a checkpoint after 6 and after 12."""
    state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER, suite=SUITE)
    records: Records = []
    for _, value in submissions(12, 4, "verify"):
        for event in state.decide_record(signed_json(value), NOW).events:
            records.append((0, len(records) * 2, event.model_dump_json().encode()))
    head, checkpoints = GENESIS_HASH, []
    for count, (_, offset, raw) in enumerate(records, start=1):
        head = partition_chain(head, json.loads(raw)["hash"], suite=SUITE)
        if count % 6 == 0:
            checkpoints.append(sign(KEY, 0, offset, count, head, NOW))
    return records, checkpoints


def checked(
    records: Records, checkpoints: list[Checkpoint], ring: KeyRing = RING, now: datetime = LATER
) -> LogReport:
    return verify_log(records, checkpoints, ring, now, GRACE, suite=SUITE)


def kinds(
    records: Records, checkpoints: list[Checkpoint], ring: KeyRing = RING, now: datetime = LATER
) -> set[str]:
    return {p.kind for p in checked(records, checkpoints, ring, now).problems}


def test_an_untouched_log_verifies() -> None:
    records, checkpoints = logged()
    report = checked(records, checkpoints)
    assert report.intact, report.problems
    assert (report.events, report.cases, report.checkpoints) == (12, 3, 2)
    assert report.recent == []
    assert report.adopted == []


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
    forged["hash"] = chain_hash(forged, suite=SUITE)
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
    tampered = checkpoints[0].model_copy(update={"count": 5})
    assert kinds(records, [tampered, checkpoints[1]]) == {"forged_checkpoint"}
    # Alone, it vouches for nothing: every event is uncovered.
    assert kinds(records, [tampered]) == {"forged_checkpoint", "uncovered_event"}


# --- only the pinned key ring vouches ---------------------------------------------------------


def resigned(records: Records, key: PrivateKey) -> list[Checkpoint]:
    """A checkpoint over the whole of ``records``, as a forger with his own key would sign it."""
    head = GENESIS_HASH
    for _, _, raw in records:
        head = partition_chain(head, json.loads(raw)["hash"], suite=SUITE)
    return [sign(key, 0, records[-1][1], len(records), head, NOW)]


def test_a_log_re_signed_with_a_key_outside_the_ring_fails() -> None:
    records, _ = logged()
    forger = new_private_key()
    report = checked(records, resigned(records, forger))
    named = {(p.kind, p.where) for p in report.problems}
    assert ("unknown_checkpoint_key", "checkpoint p0 count 12") in named
    assert f"key {key_id(forger.public_key())}" in report.problems[0].detail
    assert "does not hold it" in report.problems[0].detail
    # It vouches for nothing: every event is named as no decider's.
    assert sum(p.kind == "uncovered_event" for p in report.problems) == 12


def test_a_key_of_the_ring_for_another_purpose_does_not_sign_checkpoints() -> None:
    records, checkpoints = logged()
    department_key = ring_of(purpose=KeyPurpose.DEPARTMENT)
    report = checked(records, checkpoints, department_key)
    assert {p.kind for p in report.problems} == {"unknown_checkpoint_key", "uncovered_event"}
    assert "holds it for department only" in report.problems[0].detail


@pytest.mark.parametrize(
    ("since", "until"),
    [(NOW + timedelta(seconds=1), None), (datetime(2020, 1, 1, tzinfo=UTC), NOW)],
    ids=["not yet valid", "retired"],
)
def test_a_checkpoint_signed_outside_its_keys_validity_fails(
    since: datetime, until: datetime | None
) -> None:
    records, checkpoints = logged()
    report = checked(records, checkpoints, ring_of(since=since, until=until))
    assert {p.kind for p in report.problems} == {"checkpoint_key_not_valid", "uncovered_event"}
    assert f"signed at {NOW.isoformat()}" in report.problems[0].detail


def test_a_checkpoint_signed_before_its_key_retired_still_counts() -> None:
    records, checkpoints = logged()
    assert kinds(records, checkpoints, ring_of(until=NOW + timedelta(seconds=1))) == set()


# --- every event covered ------------------------------------------------------------------------


def forged_tail(records: Records, recorded_at: datetime) -> Records:
    """A correctly chained forgery: the next version of the last event's case, with the right
    prev_hash and a recomputed hash, appended after it."""
    partition, offset, raw = records[-1]
    last = json.loads(raw)
    forged = {
        **last,
        "event_id": "00000000-0000-4000-8000-000000000001",
        "version": last["version"] + 1,
        "prev_hash": last["hash"],
        "recorded_at": recorded_at.isoformat(),
        "payload": {**last["payload"], "summary": "伪造"},
    }
    forged["hash"] = chain_hash(forged, suite=SUITE)
    return [*records, (partition, offset + 2, json.dumps(forged, ensure_ascii=False).encode())]


def test_a_correctly_chained_forgery_at_the_tail_is_named_once_past_the_grace() -> None:
    records, checkpoints = logged()
    records = forged_tail(records, NOW)
    report = checked(records, checkpoints)
    assert [(p.kind, p.where) for p in report.problems] == [("uncovered_event", "p0@24")]
    assert "no checkpoint signed with a key of the ring covers it" in report.problems[0].detail
    assert report.problems[0].case_id == json.loads(records[-1][2])["case_id"]

    # Within the grace period: a note (its transaction's checkpoint may be on its way).
    soon = checked(records, checkpoints, now=NOW + timedelta(seconds=30))
    assert soon.intact, soon.problems
    assert [(e.partition, e.offset) for e in soon.recent] == [(0, 24)]


def test_an_uncovered_event_dated_in_the_future_is_no_recent_one() -> None:
    records, checkpoints = logged()
    records = forged_tail(records, NOW + timedelta(days=1))
    assert kinds(records, checkpoints, now=NOW) == {"uncovered_event"}


def test_events_and_an_empty_checkpoints_topic_fail() -> None:
    records, _ = logged()
    report = checked(records, [])
    assert {p.kind for p in report.problems} == {"no_checkpoints", "uncovered_event"}
    (empty,) = [p for p in report.problems if p.kind == "no_checkpoints"]
    assert empty.where == "the checkpoints topic"
    assert "12 events on the log and not one checkpoint" in empty.detail
    assert checked(records, [], now=NOW).intact  # within the grace period: notes
    assert checked([], []).intact  # no events, nothing to vouch for
