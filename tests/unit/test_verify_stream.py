"""Verification as ``casetrail verify`` streams it (``VerificationPass``: the log a batch at a
time, the audit rows in log order beside it, the event ids on disk) finds exactly what
``verify`` finds on the same records and rows, however the batches fall, on logs and audit
trails tampered with in many ways at once."""

import json
import random
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from events.hashing import GENESIS_HASH
from services.integrity.audit_check import in_case_scope
from services.integrity.audit_pairing import Logged, Position, logged, row_position
from services.integrity.checkpoints import sign
from services.integrity.id_book import IdBook
from services.integrity.verification import Verification, VerificationPass, verify
from tests.signing import SUITE, new_private_key
from tests.unit.test_verify import GRACE, KEY, LATER, NOW, RING
from tests.unit.test_verify_audit import (
    SOON,
    Records,
    Row,
    checkpoint_records,
    everything_projected,
    row_of,
)
from tests.unit.test_verify_audit import logged as logged_records

Tampering = Callable[[random.Random, Records, list[Row]], None]


def _rows_swap(rng: random.Random, _: Records, rows: list[Row], column: str) -> None:
    a, b = rng.sample(range(len(rows)), 2)
    rows[a][column], rows[b][column] = rows[b][column], rows[a][column]


TAMPERINGS: dict[str, Tampering] = {
    "row deleted": lambda rng, _, rows: _drop(rng, rows),
    "row altered": lambda rng, _, rows: rng.choice(rows).update(department="别的部门"),
    "offsets swapped": lambda rng, records, rows: _rows_swap(rng, records, rows, "log_offset"),
    "versions swapped": lambda rng, records, rows: _rows_swap(rng, records, rows, "version"),
    "ids swapped": lambda rng, records, rows: _rows_swap(rng, records, rows, "event_id"),
    "id changed": lambda rng, _, rows: rng.choice(rows).update(event_id=uuid.uuid4()),
    "version changed": lambda rng, _, rows: rng.choice(rows).update(version=9),
    "row moved": lambda rng, records, rows: _move(rng, rows),
    "row invented": lambda rng, _, rows: rows.append(
        {**rng.choice(rows), "event_id": uuid.uuid4(), "log_offset": rng.choice([2, 5, 999])}
    ),
    "row twice": lambda rng, _, rows: rows.append(dict(rng.choice(rows))),
    "event twice": lambda rng, records, _: records.append(
        (1, 100 + len(records), rng.choice(records)[2])
    ),
    "event altered": lambda rng, records, _: _alter(rng, records),
    "event removed": lambda rng, records, _: _drop(rng, records),
    "junk on the log": lambda rng, records, _: records.append(
        (rng.choice([0, 1]), 200 + len(records), b'{"hash": "h", "case_id": "A", "version": 1}')
    ),
}


def _drop(rng: random.Random, items: list[Any]) -> None:
    del items[rng.randrange(len(items))]


def _move(rng: random.Random, rows: list[Row]) -> None:
    """A row names another row's place, or one where the log has nothing."""
    moved, other = rng.sample(rows, 2)
    there = rng.choice([(other["log_partition"], other["log_offset"]), (5, 3), (0, 1000)])
    moved["log_partition"], moved["log_offset"] = there


def _alter(rng: random.Random, records: Records) -> None:
    i = rng.randrange(len(records))
    partition, offset, raw = records[i]
    records[i] = (partition, offset, raw.replace(b"\xe4\xbf\xa1\xe8\xae\xbf", b"xx"))  # 信访


def streamed(
    records: Records,
    rows: list[Row] | None,
    projected: dict[int, int],
    case: str | None,
    rng: random.Random,
    checkpoints: Records | None = None,
    now: datetime = SOON,
) -> Verification:
    """What the shell does with the topics and the table, batches of random sizes."""
    with IdBook() as ids:
        shared: set[Any] = set()
        if rows is not None:
            seen: set[object] = set()
            for row in rows:
                (shared if row["event_id"] in seen else seen).add(row["event_id"])
        run = VerificationPass(
            RING, ids, case, None if rows is None else projected, shared, suite=SUITE
        )
        for record in checkpoint_records(records, 4) if checkpoints is None else checkpoints:
            run.checkpoint(record)
        ordered = sorted(records, key=lambda r: (r[0], r[1]))
        pending = sorted(rows or [], key=row_position) if case is None else []
        while ordered:
            size = rng.randint(1, 5)
            batch, ordered = ordered[:size], ordered[size:]
            last: Position = (batch[-1][0], batch[-1][1])
            upto = [row for row in pending if row_position(row) <= last]
            pending = pending[len(upto) :]
            run.events(batch, upto)
        if case is None:
            run.end(pending)
        elif rows is not None:
            run.rows_of_case(row for row in rows if in_case_scope(row, case, run.of_case))
        first, places = run.wanted_places()
        at = {p: e for e in (logged(*r) for r in records) if e is not None for p in [e.position]}
        fetched: dict[Position, Logged] = {p: at[p] for p in places if p in at}
        return run.finish(first, fetched, now, GRACE)


def outcome(result: Verification) -> tuple[str, str, list[str]]:
    return json.dumps(result.as_json(), sort_keys=True), result.summary(), result.notes()


@pytest.mark.parametrize("seed", range(40))
def test_the_streamed_pass_finds_what_verify_finds(seed: int) -> None:
    rng = random.Random(seed)
    records = logged_records()
    rows = [row_of(r) for r in records]
    names = rng.sample(sorted(TAMPERINGS), rng.randint(1, 3))
    for name in names:
        TAMPERINGS[name](rng, records, rows)
    records.sort(key=lambda r: (r[0], r[1]))
    rows.sort(key=row_position)  # as PostgreSQL would list them to either
    projected = everything_projected(records)
    if rng.random() < 0.3:
        projected = {0: rng.choice([0, 5, 11]), 1: rng.choice([0, 7, 11])}
    cases = sorted({json.loads(raw)["case_id"] for _, _, raw in logged_records()})
    for case in [None, *cases]:
        for compared in (rows, None):
            expected = verify(
                records,
                checkpoint_records(records, 4),
                RING,
                None if compared is None else [dict(r) for r in compared],
                projected,
                case,
                now=SOON,
                grace=GRACE,
                suite=SUITE,
            )
            copies = None if compared is None else [dict(r) for r in compared]
            found = streamed(records, copies, projected, case, random.Random(seed))
            assert outcome(found) == outcome(expected), (names, case)
            if case is None and compared is not None:
                assert not found.intact, names  # every tampering shows


def test_the_id_book_tells_duplicates_and_first_events_across_batches() -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    with IdBook() as ids:
        assert ids.note([(str(one), one, (0, 0)), (str(two), two, (0, 1))]) == [
            (False, True),
            (False, True),
        ]
        # The same id again, in a later batch and on another partition: a duplicate, and not
        # the first of its id; an id the projector cannot read is still the log check's.
        assert ids.note([(str(one), one, (1, 5)), ("not-an-id", None, (1, 6))]) == [
            (True, False),
            (False, False),
        ]
        assert ids.note([("not-an-id", None, (1, 7))]) == [(True, False)]
        # Written another way, it is another key for the log check, the same id for the rows.
        assert ids.note([(str(two).upper(), two, (1, 8))]) == [(False, False)]
        # Read by the log check before, first readable by the projector now.
        three = uuid.uuid4()
        assert ids.note([(str(three), None, (0, 2)), (str(three), three, (0, 3))]) == [
            (False, False),
            (True, True),
        ]
        assert ids.first([one, two, three, uuid.uuid4()]) == {
            one: (0, 0),
            two: (0, 1),
            three: (0, 3),
        }


def test_a_log_of_rows_out_of_place_is_compared_after_the_pass() -> None:
    """Rows that name places far from their events are kept until the end, then paired: each
    row of partition 0 trades places with its twin on partition 1."""
    records = logged_records()
    rows = [row_of(r) for r in records]
    for row in rows:
        row["log_partition"] = 1 - row["log_partition"]
    rows.sort(key=row_position)
    projected = everything_projected(records)
    checkpoints = checkpoint_records(records, 4)
    expected = verify(
        records, checkpoints, RING, rows, projected, now=SOON, grace=GRACE, suite=SUITE
    )
    found = streamed(records, rows, everything_projected(records), None, random.Random(7))
    assert outcome(found) == outcome(expected)
    assert [p.where for p in found.problems] == [f"p0@{o}, p1@{o}" for o in range(0, 12, 2)]
    assert {p.kind for p in found.problems} == {"audit_rows_reordered"}
    assert (found.audit_rows, found.not_yet_projected) == (12, 0)


def test_a_row_naming_the_place_of_a_second_copy_of_its_event_pairs_with_the_first() -> None:
    """The row claims its event by id, and the first event with that id is the one it is;
    the copy, which repeats the id, is the log's problem and has no row of its own."""
    records = logged_records()
    records.append((1, 100, records[2][2]))
    rows = [row_of(r) for r in records[:-1]]
    rows[2].update(log_partition=1, log_offset=100)
    rows.sort(key=row_position)
    projected = everything_projected(records)
    checkpoints = checkpoint_records(records, 4)
    expected = verify(
        records, checkpoints, RING, rows, projected, now=SOON, grace=GRACE, suite=SUITE
    )
    found = streamed(records, rows, projected, None, random.Random(3))
    assert outcome(found) == outcome(expected)
    audit = [(p.kind, p.where) for p in found.problems if p.kind.startswith("audit")]
    assert audit == [("audit_row_moved", "p0@4"), ("audit_row_missing", "p1@100")]
    assert ("duplicate_event", "p1@100") in [(p.kind, p.where) for p in found.problems]


@pytest.mark.parametrize("seed", range(12))
def test_checkpoints_kept_on_disk_are_checked_as_those_in_memory(seed: int) -> None:
    """Out of order on the topic, several at one count, one for each event, forged, junk:
    the checkpoints the pass keeps in its file vouch (or not) as ``verify``'s do."""
    rng = random.Random(seed)
    records = logged_records()
    if seed % 3 == 0:
        _alter(rng, records)
    checkpoints = checkpoint_records(records, rng.choice([1, 2, 4]))
    forger = new_private_key()
    for _ in range(rng.randint(1, 4)):
        partition, count = rng.choice([0, 1]), rng.randint(1, 7)
        head = rng.choice([GENESIS_HASH, "a" * 64])
        signed = sign(rng.choice([KEY, forger]), partition, 2 * count - 2, count, head, NOW)
        checkpoints.append((partition, 50 + len(checkpoints), signed.record()))
    checkpoints.append((0, 99, b"{}"))
    rng.shuffle(checkpoints)
    projected = everything_projected(records)
    for now in (SOON, LATER):
        expected = verify(
            records, checkpoints, RING, None, projected, now=now, grace=GRACE, suite=SUITE
        )
        found = streamed(records, None, projected, None, rng, checkpoints, now)
        assert outcome(found) == outcome(expected)
    assert not found.intact
