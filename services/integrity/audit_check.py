"""The audit trail in PostgreSQL against the log: every row against the event it claims to be
(every envelope field, and where the event is on the log), every event the projection has
reached against its row.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from projections.read_models.audit_trail import ENVELOPE_COLUMNS
from services.integrity.audit_pairing import (
    Logged,
    LogIndex,
    Pairing,
    Position,
    comparable,
    pair,
    place,
    row_id,
    row_position,
    shown,
)
from services.integrity.problems import Problem, ProblemKind, Record, order


@dataclass
class AuditReport:
    rows: int = 0
    """Rows compared (with a case: that case's rows)."""
    not_yet_projected: int = 0
    """Events the projection has not reached yet, so without a row and rightly so."""
    problems: list[Problem] = field(default_factory=list)


def compare_audit_trail(
    events: Iterable[Record],
    rows: Iterable[Mapping[str, Any]],
    projected: Mapping[int, int],
    case: str | None = None,
) -> AuditReport:
    """Compare the rows of ``audit_trail`` with the log, row by row.

    ``events``: every record of the events topic, (partition, offset, raw value). ``rows``: the
    audit trail's rows (the columns ``COLUMNS`` of ``projections.read_models.audit_trail``;
    jsonb as text or decoded). ``projected``: per partition, the next offset the audit-trail
    projection will apply; an event at or beyond it is not yet projected rather than missing.
    With ``case``, only the rows and events of that case are compared (a row belongs to the
    case if it says so, or if it claims one of the case's events or places on the log).
    """
    log = LogIndex(events, case)
    pairing = pair(log, rows)
    report = AuditReport(rows=pairing.rows)
    moves, version_changed = _moves(log, pairing)
    report.problems += moves + _altered(log, pairing, version_changed) + _extra(log, pairing)
    for event in log.in_scope:
        if event.position in pairing.pairs:
            continue
        if event.offset >= projected.get(event.partition, 0):
            report.not_yet_projected += 1
            continue
        report.problems.append(
            Problem(
                ProblemKind.AUDIT_ROW_MISSING,
                event.where,
                f"{event.label} has no row, though the audit trail has applied"
                f" p{event.partition} up to offset {projected[event.partition] - 1}",
                event.case_id,
                event.partition,
                event.offset,
            )
        )
    report.problems.sort(key=order)
    return report


def _moves(log: LogIndex, pairing: Pairing) -> tuple[list[Problem], set[Position]]:
    """Rows that name another place on the log, or another version of the case, than their
    event's. Rows trading places among themselves are a reordering; a row alone in naming
    another place is moved, and alone in naming another version is altered (returned)."""
    by_version: dict[tuple[str, Any], tuple[Any, Any]] = {}
    version_positions: dict[tuple[str, Any], Position] = {}
    by_place: dict[Position, Position] = {}
    for position, row in pairing.pairs.items():
        event = log.at[position]
        if comparable("version", event.fields["version"], False) != comparable(
            "version", row["version"], True
        ):
            key = (event.case_id, event.fields["version"])
            by_version[key] = (row["case_id"], row["version"])
            version_positions[key] = position
        if row_position(row) != position:
            by_place[position] = row_position(row)

    problems = []
    version_cycles, versions_changed = _cycles(by_version)
    for cycle in version_cycles:
        moved = [log.at[version_positions[key]] for key in cycle]
        says = [f"the row of {e.label} says v{pairing.pairs[e.position]['version']}" for e in moved]
        problems.append(_reordered(moved, says))
    place_cycles, places_changed = _cycles(by_place)
    for cycle in place_cycles:
        moved = [log.at[position] for position in cycle]
        says = [f"the row of {e.label} says {place(pairing.pairs[e.position])}" for e in moved]
        problems.append(_reordered(moved, says))
    for position in places_changed:
        event, row = log.at[position], pairing.pairs[position]
        there = log.at.get(row_position(row))
        problems.append(
            Problem(
                ProblemKind.AUDIT_ROW_MOVED,
                event.where,
                f"the row of {event.label} says it is at {place(row)}, where the log has "
                + (there.label if there else "nothing"),
                event.case_id,
                event.partition,
                event.offset,
            )
        )
    return problems, {version_positions[key] for key in versions_changed}


def _cycles(moves: Mapping[Any, Any]) -> tuple[list[list[Any]], list[Any]]:
    """``moves`` maps where something is to where its row says it is. Returns the cycles (rows
    that trade places among themselves: a reordering) and the rest (moved elsewhere)."""
    cycles: list[list[Any]] = []
    rest: list[Any] = []
    done: set[Any] = set()
    for start in moves:
        if start in done:
            continue
        path = [start]
        current = moves[start]
        while current in moves and current not in done and current not in path:
            path.append(current)
            current = moves[current]
        if current in path:
            rest.extend(path[: path.index(current)])
            cycles.append(path[path.index(current) :])
        else:
            rest.extend(path)
        done.update(path)
    return cycles, rest


def _reordered(moved: list[Logged], details: list[str]) -> Problem:
    moved_and_details = sorted(zip(moved, details, strict=True), key=lambda m: m[0].position)
    first = moved_and_details[0][0]
    cases = {e.case_id for e in moved}
    return Problem(
        ProblemKind.AUDIT_ROWS_REORDERED,
        ", ".join(e.where for e, _ in moved_and_details),
        "; ".join(d for _, d in moved_and_details),
        case_id=first.case_id if len(cases) == 1 else None,
        partition=first.partition,
        offset=first.offset,
    )


def _altered(log: LogIndex, pairing: Pairing, version_changed: set[Position]) -> list[Problem]:
    problems = []
    for position, row in pairing.pairs.items():
        event = log.at[position]
        # A version that changed by trading places with another row's was reported as a
        # reordering already; only a version changed alone makes the row altered.
        columns = [
            column
            for column in ENVELOPE_COLUMNS
            if (column == "version" and position in version_changed)
            or (
                column != "version"
                and comparable(column, event.fields.get(column), False)
                != comparable(column, row[column], True)
            )
        ]
        if not columns:
            continue
        differences = "; ".join(
            f"{column}: log {shown(column, event.fields.get(column), False)!r},"
            f" row {shown(column, row[column], True)!r}"
            for column in columns
        )
        problems.append(
            Problem(
                ProblemKind.AUDIT_ROW_ALTERED,
                event.where,
                f"the row of {event.label} differs from the log in {', '.join(columns)}"
                f" ({differences})",
                event.case_id,
                event.partition,
                event.offset,
            )
        )
    return problems


def _extra(log: LogIndex, pairing: Pairing) -> list[Problem]:
    problems = []
    for row in pairing.extra:
        claimed = row_position(row)
        there = log.at.get(claimed)
        twin = log.by_id.get(row_id(row))
        why = (
            f"a second row for the event at {twin.where}"
            if twin is not None
            else f"no event {row['event_id']} on the log"
            + (f" ({place(row)} holds {there.label})" if there else "")
        )
        problems.append(
            Problem(
                ProblemKind.AUDIT_ROW_EXTRA,
                f"audit_trail row {row['event_id']}",
                f"the row of {row['case_id']} v{row['version']} ({row['type']})"
                f" at {place(row)}: {why}",
                str(row["case_id"]),
                claimed[0],
                claimed[1],
            )
        )
    return problems
