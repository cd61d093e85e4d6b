"""The audit trail against the log, row by row, and the whole verification as `casetrail verify`
reports it: an intact trail passes, each kind of tampering is named with its place."""

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event
from projections.read_models.audit_trail import ENVELOPE_COLUMNS
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.integrity.audit_check import compare_audit_trail
from services.integrity.checkpoints import sign
from services.integrity.verification import Verification, verify
from tests.signing import SUITE, VERIFIER, new_private_key, signed_json
from tests.unit.test_verify import GRACE, KEY, NOW, RING

Records = list[tuple[int, int, bytes]]
Row = dict[str, Any]


def logged() -> Records:
    """Two partitions, each with two cases of three events; offsets go up by two, as they do
    on the real log where transaction markers take offsets too."""
    records: Records = []
    for partition in (0, 1):
        state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER, suite=SUITE)
        for _, value in submissions(6, 3, f"audit{partition}"):
            for event in state.decide_record(signed_json(value), NOW).events:
                offset = 2 * sum(1 for r in records if r[0] == partition)
                records.append((partition, offset, event.model_dump_json().encode()))
    return records


def row_of(record: tuple[int, int, bytes]) -> Row:
    """The row as the projector writes it and asyncpg reads it back (jsonb as text)."""
    partition, offset, raw = record
    e = Event.model_validate_json(raw)
    return {
        "event_id": e.event_id,
        "case_id": e.case_id,
        "case_type": e.case_type.value,
        "version": e.version,
        "type": e.type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at,
        "recorded_at": e.recorded_at,
        "actor": e.actor.model_dump_json(),
        "department": e.department,
        "submission_id": e.submission_id,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "vouched_by": e.vouched_by.model_dump_json() if e.vouched_by else None,
        "payload": json.dumps(e.payload, ensure_ascii=False),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "log_partition": partition,
        "log_offset": offset,
    }


def everything_projected(records: Records) -> dict[int, int]:
    return {p: max(o for q, o, _ in records if q == p) + 1 for p, _, _ in records}


def found(
    records: Records, rows: list[Row], projected: dict[int, int] | None = None, case: str = ""
) -> list[tuple[str, str]]:
    report = compare_audit_trail(
        records,
        rows,
        everything_projected(records) if projected is None else projected,
        case or None,
    )
    return [(p.kind, p.where) for p in report.problems]


def case_of(record: tuple[int, int, bytes]) -> str:
    return str(json.loads(record[2])["case_id"])


def test_an_audit_trail_equal_to_the_log_verifies() -> None:
    records = logged()
    report = compare_audit_trail(
        records, [row_of(r) for r in records], everything_projected(records)
    )
    assert report.problems == []
    assert (report.rows, report.not_yet_projected) == (12, 0)


def test_json_compares_by_value_and_timestamps_as_instants() -> None:
    """PostgreSQL gives jsonb back re-spaced and re-ordered, and timestamps in its zone."""
    records = logged()
    rows = [row_of(r) for r in records]
    china = timezone(timedelta(hours=8))
    for row in rows:
        for column in ("actor", "vouched_by", "payload"):
            value = json.loads(row[column])
            row[column] = json.dumps(dict(reversed(value.items())), indent=1, ensure_ascii=False)
        row["occurred_at"] = row["occurred_at"].astimezone(china)
        row["recorded_at"] = row["recorded_at"].isoformat()
    assert found(records, rows) == []


def _changed(column: str, value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if column in ("actor", "payload"):
        return json.dumps({**json.loads(value), "officer_id": "DY-XF-99"}, ensure_ascii=False)
    if column == "vouched_by":
        return json.dumps({**json.loads(value), "kind": "gateway"}, ensure_ascii=False)
    if isinstance(value, int):
        return value + 1
    return f"{value}x"


@pytest.mark.parametrize("column", ENVELOPE_COLUMNS)
def test_every_envelope_field_of_a_row_is_compared(column: str) -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[4][column] = _changed(column, rows[4][column])
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_row_altered", "p0@8")]
    assert f"differs from the log in {column} (" in report.problems[0].detail
    assert report.problems[0].case_id == case_of(records[4])


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda r: r.update(department="别的部门"), "department: log '信访办', row '别的部门'"),
        (lambda r: r.update(payload=r["payload"].replace("visit", "mail")), "payload"),
        (lambda r: r.update(payload=r["payload"].replace(": 2", ': "2"')), "payload"),
        (lambda r: r.update(payload=r["payload"].replace(": 2", ": 2.0")), "payload"),
    ],
    ids=["department", "payload text", "payload number as text", "payload int as float"],
)
def test_an_altered_row_is_named_with_both_values(edit: Callable[[Row], None], detail: str) -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    edit(rows[0])
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_row_altered", "p0@0")]
    assert detail in report.problems[0].detail


def test_a_missing_row_is_named_only_where_the_projection_has_been() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    del rows[7]  # p1@2
    assert found(records, rows) == [("audit_row_missing", "p1@2")]

    # The projection has applied p1 up to offset 1 only: p1@2 and after are not due yet.
    report = compare_audit_trail(records, rows[:7], {0: 11, 1: 2})
    assert report.problems == []
    assert report.not_yet_projected == 5


def test_extra_rows_are_named() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    invented = {**rows[2], "event_id": uuid.uuid4(), "version": 9, "log_offset": 40}
    twice = dict(rows[3])
    on_a_taken_place = {**rows[5], "event_id": uuid.uuid4(), "version": 8, "log_offset": 0}
    report = compare_audit_trail(
        records, [*rows, invented, twice, on_a_taken_place], everything_projected(records)
    )
    assert {(p.kind, p.where) for p in report.problems} == {
        ("audit_row_extra", f"audit_trail row {invented['event_id']}"),
        ("audit_row_extra", f"audit_trail row {twice['event_id']}"),
        ("audit_row_extra", f"audit_trail row {on_a_taken_place['event_id']}"),
    }
    details = " | ".join(p.detail for p in report.problems)
    assert "a second row for the event at p0@6" in details
    assert "p0@0 holds" in details


def test_a_row_whose_event_was_removed_from_the_log_is_extra() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    kept = records[:11]
    assert found(kept, rows, everything_projected(records)) == [
        ("audit_row_extra", f"audit_trail row {rows[11]['event_id']}")
    ]


def test_a_row_with_a_changed_event_id_is_altered_in_place() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[1]["event_id"] = uuid.uuid4()
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_row_altered", "p0@2")]
    assert "in event_id (" in report.problems[0].detail


def test_rows_with_swapped_log_offsets_are_a_reordering() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[1]["log_offset"], rows[4]["log_offset"] = rows[4]["log_offset"], rows[1]["log_offset"]
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_rows_reordered", "p0@2, p0@8")]
    assert report.problems[0].case_id is None  # two cases' rows


def test_rows_with_swapped_versions_are_a_reordering_of_the_case() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[0]["version"], rows[2]["version"] = rows[2]["version"], rows[0]["version"]
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_rows_reordered", "p0@0, p0@4")]
    assert report.problems[0].case_id == case_of(records[0])
    assert "says v3" in report.problems[0].detail


def test_three_rows_rotated_are_one_reordering() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    places = [rows[i]["log_offset"] for i in (6, 7, 8)]
    for i, place in zip((6, 7, 8), places[1:] + places[:1], strict=True):
        rows[i]["log_offset"] = place
    assert found(records, rows) == [("audit_rows_reordered", "p1@0, p1@2, p1@4")]


def test_a_row_naming_another_place_is_moved() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[2]["log_offset"] = 1000
    rows[9]["log_partition"] = 0  # p1@6 says p0@6, which holds another event (with its row)
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [
        ("audit_row_moved", "p0@4"),
        ("audit_row_moved", "p1@6"),
    ]
    assert "says it is at p0@1000, where the log has nothing" in report.problems[0].detail
    assert "p0@6, where the log has BENCH-" in report.problems[1].detail


def test_a_row_with_a_version_of_its_own_is_altered() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    rows[2]["version"] = 7
    report = compare_audit_trail(records, rows, everything_projected(records))
    assert [(p.kind, p.where) for p in report.problems] == [("audit_row_altered", "p0@4")]
    assert "in version (" in report.problems[0].detail


def test_a_case_is_compared_alone() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    first, second = case_of(records[0]), case_of(records[3])
    rows[4]["department"] = "别的部门"  # the second case's
    del rows[0]  # the first case's
    assert found(records, rows, case=first) == [("audit_row_missing", "p0@0")]
    assert found(records, rows, case=second) == [("audit_row_altered", "p0@8")]
    other = case_of(records[6])
    report = compare_audit_trail(records, rows, everything_projected(records), other)
    assert (report.problems, report.rows) == ([], 3)


def test_a_row_moved_to_another_case_shows_under_both() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    first, second = case_of(records[0]), case_of(records[3])
    rows[1]["case_id"] = second
    assert found(records, rows, case=first) == [("audit_row_altered", "p0@2")]
    assert found(records, rows, case=second) == [("audit_row_altered", "p0@2")]


# --- the whole verification -----------------------------------------------------------------


def checkpoint_records(records: Records, every: int) -> Records:
    """Signed checkpoints every ``every`` events of each partition, as the decider writes them."""
    out: Records = []
    for partition in sorted({p for p, _, _ in records}):
        head, count = GENESIS_HASH, 0
        for p, offset, raw in records:
            if p != partition:
                continue
            head, count = partition_chain(head, json.loads(raw)["hash"], suite=SUITE), count + 1
            if count % every == 0:
                checkpoint = sign(KEY, partition, offset, count, head, NOW)
                out.append((partition, len(out), checkpoint.model_dump_json().encode()))
    return out


SOON = NOW + timedelta(seconds=30)
"""Verify soon after the events were recorded: uncovered ones are within the grace period."""


def verified(
    records: Records, rows: list[Row] | None, case: str | None = None, now: datetime = SOON
) -> Verification:
    return verify(
        records,
        checkpoint_records(records, 4),
        RING,
        rows,
        everything_projected(records),
        case,
        now=now,
        grace=GRACE,
        suite=SUITE,
    )


def test_an_intact_system_is_summarised() -> None:
    records = logged()
    result = verified(records, [row_of(r) for r in records])
    assert result.intact
    assert result.summary() == "12 events, 4 cases, 2 checkpoints, 12 audit rows: intact"
    # 6 events per partition, a checkpoint after 4: 2 on each are not covered yet.
    assert result.notes() == [
        "note: 4 events recorded in the last 60 s not covered by a signed checkpoint yet (a"
        " problem if still so after that: the decider signs one with every write)"
    ]
    as_json = result.as_json()
    assert as_json["intact"] is True
    assert (as_json["events"], as_json["audit_rows"], as_json["problems"]) == (12, 12, [])

    case = case_of(records[0])
    alone = verified(records, [row_of(r) for r in records], case)
    assert alone.summary() == (
        f"case {case}: 3 events, 3 audit rows (log: 12 events, 4 cases, 2 checkpoints): intact"
    )
    assert alone.recent_uncovered == 0

    log_only = verified(records, None)
    assert (
        log_only.summary() == "12 events, 4 cases, 2 checkpoints, audit trail not compared: intact"
    )


def test_log_and_audit_problems_are_reported_together() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    del rows[3]
    partition, offset, raw = records[8]
    records[8] = (partition, offset, raw.replace(b"\xe4\xbf\xa1\xe8\xae\xbf", b"xx"))  # 信访
    result = verified(records, rows)
    assert [(p.kind, p.where) for p in result.problems] == [
        ("audit_row_missing", "p0@6"),
        ("altered_event", "p1@4"),
        ("audit_row_altered", "p1@4"),
    ]
    assert result.summary().endswith(": 3 problems")
    assert [p["kind"] for p in result.as_json()["problems"]] == [
        "audit_row_missing",
        "altered_event",
        "audit_row_altered",
    ]


def test_a_case_sees_its_own_problems_and_those_of_whole_partitions() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    untouched, tampered = case_of(records[0]), case_of(records[3])
    partition, offset, raw = records[4]
    records[4] = (partition, offset, raw.replace(b"\xe4\xbf\xa1\xe8\xae\xbf", b"xx"))
    rows[4]["department"] = "xx"
    checkpoints = checkpoint_records(records, 4)
    forged = sign(new_private_key(), 1, 6, 4, "0" * 64, NOW).model_dump_json().encode()
    checkpoints.append((1, 9, forged))
    checkpoints.append((1, 10, b"not a checkpoint"))

    def kinds(case: str) -> list[tuple[str, str]]:
        result = verify(
            records,
            checkpoints,
            RING,
            rows,
            {0: 11, 1: 11},
            case,
            now=SOON,
            grace=GRACE,
            suite=SUITE,
        )
        return [(p.kind, p.where) for p in result.problems]

    partition_level = [
        ("unreadable_checkpoint", "checkpoints p1@10"),
        ("unknown_checkpoint_key", "checkpoint p1 count 4"),
    ]
    assert kinds(untouched) == partition_level
    assert kinds(tampered) == [
        ("altered_event", "p0@8"),
        ("audit_row_altered", "p0@8"),
        *partition_level,
    ]


def test_forged_records_never_crash_the_check() -> None:
    records = logged()
    rows = [row_of(r) for r in records]
    checkpoints = checkpoint_records(records, 4)
    junk = [b"[1, 2]", b'"text"', b'{"hash": "h", "case_id": ["A"], "version": 1}', b"\xff"]
    records += [(1, 100 + i, raw) for i, raw in enumerate(junk)]
    projected = everything_projected(records)
    result = verify(records, checkpoints, RING, rows, projected, now=SOON, grace=GRACE, suite=SUITE)
    assert [p.kind for p in result.problems] == ["unreadable_event"] * 4


def test_a_record_on_the_outcomes_topic_that_is_no_outcome_is_named() -> None:
    """Only the decider writes outcomes; anything else there is a problem (the decider skips it
    when it takes the partition over), never a crash of the check."""
    records = logged()
    outcomes = [(0, 3, b"[" * 100_000), (1, 0, b'{"status": "accepted"}'), (1, 1, b"\xff")]
    result = verify(records, [], RING, None, {}, None, outcomes, now=SOON, grace=GRACE, suite=SUITE)
    assert [(p.kind, p.where) for p in result.problems] == [
        ("unreadable_outcome", "outcomes p0@3"),
        ("unreadable_outcome", "outcomes p1@0"),
        ("unreadable_outcome", "outcomes p1@1"),
    ]


def test_uncovered_events_fail_once_past_the_grace_period() -> None:
    records = logged()
    later = NOW + timedelta(hours=1)
    result = verified(records, [row_of(r) for r in records], now=later)
    assert [(p.kind, p.where) for p in result.problems] == [
        ("uncovered_event", f"p{partition}@{offset}") for partition in (0, 1) for offset in (8, 10)
    ]
    assert result.recent_uncovered == 0
    assert result.notes() == []
    # A case hears of its own uncovered events only (each names its case).
    case = case_of(records[4])
    alone = verified(records, [row_of(r) for r in records], case, now=later)
    assert [(p.kind, p.case_id) for p in alone.problems] == [("uncovered_event", case)] * 2


def test_an_operators_adoption_is_shown_with_its_reason() -> None:
    records = logged()
    head = GENESIS_HASH
    for _, _, raw in (r for r in records if r[0] == 0):
        head = partition_chain(head, json.loads(raw)["hash"], suite=SUITE)
    adopted = sign(KEY, 0, 10, 6, head, NOW + timedelta(minutes=5), "上线前的事件 / pre-upgrade")
    checkpoints = [*checkpoint_records(records, 4), (0, 99, adopted.record())]
    later = NOW + timedelta(hours=1)
    result = verify(records, checkpoints, RING, None, {}, now=later, grace=GRACE, suite=SUITE)
    assert [(p.kind, p.where) for p in result.problems] == [
        ("uncovered_event", "p1@8"),
        ("uncovered_event", "p1@10"),
    ]
    assert result.notes() == [
        f"note: p0: the events through offset 10 were adopted by an operator at"
        f" {adopted.created_at.isoformat()} (key {adopted.key_id}): 上线前的事件 / pre-upgrade"
    ]
    assert result.as_json()["adopted"][0]["reason"] == "上线前的事件 / pre-upgrade"
