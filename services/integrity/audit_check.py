"""The audit trail in PostgreSQL against the log: every row against the event it claims to be
(every envelope field, and where the event is on the log), every event the projection has
reached against its row.

``AuditComparison`` does it in one pass over the log and the rows, both in log order, keeping
only what is out of place: a row paired with the event at the place it names, under the same
id, is compared and forgotten at once (on an intact trail every row is), and what is left is
paired as ``compare_audit_trail`` always did once the pass is over.
"""

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.read_models.audit_trail import ENVELOPE_COLUMNS
from services.integrity.audit_pairing import (
    Logged,
    LogIndex,
    Pairing,
    Position,
    comparable,
    event_id,
    logged,
    place,
    row_id,
    row_position,
    same,
    shown,
)
from services.integrity.problems import Problem, ProblemKind, Record, order

Row = Mapping[str, Any]


@dataclass
class AuditReport:
    rows: int = 0
    """Rows compared (with a case: that case's rows)."""
    not_yet_projected: int = 0
    """Events the projection has not reached yet, so without a row and rightly so."""
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Leftover:
    """A row not paired in passing, and what the log holds at the place it names."""

    row: Row
    there: Logged | None
    """The event there that the projector can read; None if none (or not looked up yet)."""
    known: bool = True
    """Whether ``there`` was looked up (a case's rows are read after the log)."""
    taken: bool = False
    """Whether the event there is paired with a row of its own already."""


class AuditComparison:
    """The audit trail against the log, in one pass.

    Without a case: ``merge`` the logged events in log order with the rows in the same order
    (by the place they name), then ``end``. With a case: ``event_of_case`` for each of its
    logged events, then ``rows_of_case`` with the rows in its scope (a row belongs to the case
    if it says so, or if it claims one of the case's events or places on the log). Then
    ``finish``, with the places of the first events of the ids ``wanted_ids`` names and the
    events at the places ``wanted_places`` names, which the pass did not keep.

    ``projected``: per partition, the next offset the audit-trail projection will apply; an
    event at or beyond it is not yet projected rather than missing. ``shared_ids``: the ids
    that more than one row holds (none while event_id is the table's key).
    """

    def __init__(
        self,
        projected: Mapping[int, int],
        case: str | None = None,
        shared_ids: Collection[Any] = frozenset(),
    ):
        self.projected, self.case, self.shared_ids = projected, case, shared_ids
        self.report = AuditReport()
        self._problems: list[Problem] = []
        self._leftovers: list[_Leftover] = []
        self._odd: dict[Position, tuple[Logged, Row]] = {}
        """Rows paired in passing whose version is not their event's: a version can trade
        places with another row's, which only the end can tell."""
        self._missing: dict[Position, Problem] = {}
        self._case_events: dict[Position, Logged] = {}
        self._ahead: list[Row] = []
        """Rows naming places after the last event merged so far."""

    # --- the pass -------------------------------------------------------------------------

    def merge(self, events: Iterable[tuple[Logged, bool]], rows: Iterable[Row]) -> None:
        """The next logged events, each with whether it is the first of its id on the log,
        and the next rows, both in log order."""
        pending = [*self._ahead, *rows]
        i = 0
        for event, first in events:
            position = event.position
            while i < len(pending) and row_position(pending[i]) < position:
                self._leftover(_Leftover(pending[i], None))
                i += 1
            here = i
            while i < len(pending) and row_position(pending[i]) == position:
                i += 1
            self._at_place(event, first, pending[here:i])
        self._ahead = pending[i:]

    def end(self) -> None:
        """No event after the last merged: the rows naming places after it are stray."""
        for row in self._ahead:
            self._leftover(_Leftover(row, None))
        self._ahead = []

    def _leftover(self, leftover: _Leftover) -> None:
        self.report.rows += 1
        self._leftovers.append(leftover)

    def _at_place(self, event: Logged, first: bool, rows: Sequence[Row]) -> None:
        """An event and the rows that name its place. The row with its id is its row (no other
        row can claim the event, and this one claims no other) if the event is the first with
        that id on the log and no other row holds it."""
        mine = event_id(event)
        own = None
        if first and mine not in self.shared_ids:
            own = next((row for row in rows if row_id(row) == mine), None)
        if own is None:
            self._unpaired(event)
        else:
            self.report.rows += 1
            if _version_differs(event, own):
                self._odd[event.position] = (event, own)
            else:
                problem = _altered_row(event, own, version_changed=False)
                if problem is not None:
                    self._problems.append(problem)
        for row in rows:
            if row is not own:
                self._leftover(_Leftover(row, event, taken=own is not None))

    def _unpaired(self, event: Logged) -> None:
        """An event in scope with no row of its own so far: not yet projected, or missing
        (unless a row left over claims it in the end)."""
        if event.offset >= self.projected.get(event.partition, 0):
            self.report.not_yet_projected += 1
            return
        self._missing[event.position] = Problem(
            ProblemKind.AUDIT_ROW_MISSING,
            event.where,
            f"{event.label} has no row, though the audit trail has applied"
            f" p{event.partition} up to offset {self.projected[event.partition] - 1}",
            event.case_id,
            event.partition,
            event.offset,
        )

    def event_of_case(self, event: Logged) -> None:
        """One of the case's logged events, in log order."""
        self._case_events[event.position] = event
        self._unpaired(event)

    def rows_of_case(self, rows: Iterable[Row]) -> None:
        """The rows in the case's scope."""
        for row in rows:
            self._leftover(_Leftover(row, None, known=False))

    # --- what is left ---------------------------------------------------------------------

    def _in_scope(self, event: Logged) -> bool:
        return self.case is None or event.case_id == self.case

    def _held(self) -> dict[Position, Logged]:
        held = dict(self._case_events)
        for event, _ in self._odd.values():
            held[event.position] = event
        for leftover in self._leftovers:
            if leftover.there is not None:
                held[leftover.there.position] = leftover.there
        return held

    def wanted_ids(self) -> set[Any]:
        """The ids of the rows left over: the place of the first event of each is wanted."""
        ids = {row_id(leftover.row) for leftover in self._leftovers}
        return {i for i in ids if not isinstance(i, tuple)}  # not a UUID: no event has it

    def wanted_places(self, first: Mapping[Any, Position]) -> set[Position]:
        """The places whose events ``finish`` needs and the pass did not keep."""
        wanted = set(first.values())
        wanted |= {row_position(lo.row) for lo in self._leftovers if not lo.known}
        return wanted - self._held().keys()

    def finish(
        self, first: Mapping[Any, Position], fetched: Mapping[Position, Logged]
    ) -> AuditReport:
        """Pair the rows left over, as ``compare_audit_trail`` always paired rows: by event_id
        with the first event of the log holding it, else (every row having had its chance by
        id first, so that a row whose id was changed does not take the place of the row that
        really is that event's) by the place it names; the rest are extra. ``first``: where
        the first event with each of ``wanted_ids`` is; ``fetched``: the events at
        ``wanted_places``."""
        at = {**fetched, **self._held()}
        index = LogIndex(at, {i: at[p] for i, p in first.items() if p in at})
        pairing = Pairing(rows=self.report.rows)
        for position, (_, row) in self._odd.items():
            pairing.pairs[position] = row
        unmatched = []
        claimed_here: list[Position] = []
        for leftover in self._leftovers:
            claimed = index.by_id.get(row_id(leftover.row))
            if claimed is not None and claimed.position not in pairing.pairs:
                pairing.pairs[claimed.position] = leftover.row
                claimed_here.append(claimed.position)
            else:
                unmatched.append(leftover)
        for leftover in unmatched:
            position = row_position(leftover.row)
            there = leftover.there if leftover.known else at.get(position)
            if (
                there is not None
                and self._in_scope(there)
                and not leftover.taken
                and position not in pairing.pairs
            ):
                pairing.pairs[position] = leftover.row
                claimed_here.append(position)
            else:
                pairing.extra.append(leftover.row)
        for position in claimed_here:
            # It was counted as not yet projected, or missing, when the pass went by.
            in_scope = self._in_scope(at[position])
            if in_scope and self._missing.pop(position, None) is None:
                self.report.not_yet_projected -= 1

        moves, version_changed = _moves(index, pairing)
        self.report.problems = sorted(
            [
                *self._problems,
                *moves,
                *_altered(index, pairing, version_changed),
                *_extra(index, pairing),
                *self._missing.values(),
            ],
            key=order,
        )
        return self.report


def shared(rows: Iterable[Row]) -> set[Any]:
    """The ids that more than one of ``rows`` holds."""
    return {i for i, count in Counter(row_id(row) for row in rows).items() if count > 1}


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
    log = [e for e in (logged(*record) for record in events) if e is not None]
    at = {e.position: e for e in log}
    first: dict[Any, Position] = {}
    for e in log:
        first.setdefault(event_id(e), e.position)
    rows = list(rows)
    comparison = AuditComparison(projected, case, shared(rows))
    if case is None:
        ordered = sorted(log, key=lambda e: e.position)
        comparison.merge(
            ((e, first[event_id(e)] == e.position) for e in ordered),
            sorted(rows, key=row_position),
        )
        comparison.end()
    else:
        mine = [e for e in log if e.case_id == case]
        for e in mine:
            comparison.event_of_case(e)
        comparison.rows_of_case(row for row in rows if in_case_scope(row, case, mine))
    wanted = comparison.wanted_ids()
    return comparison.finish({i: p for i, p in first.items() if i in wanted}, at)


def in_case_scope(row: Row, case: str, events: Collection[Logged]) -> bool:
    """Whether ``row`` belongs to ``case``, whose logged events are ``events``: it says so,
    or it claims one of them or their places."""
    return (
        row["case_id"] == case
        or row_id(row) in {event_id(e) for e in events}
        or row_position(row) in {e.position for e in events}
    )


def _version_differs(event: Logged, row: Row) -> bool:
    logged_version = comparable("version", event.fields["version"], False)
    return bool(logged_version != comparable("version", row["version"], True))


def _moves(log: LogIndex, pairing: Pairing) -> tuple[list[Problem], set[Position]]:
    """Rows that name another place on the log, or another version of the case, than their
    event's. Rows trading places among themselves are a reordering; a row alone in naming
    another place is moved, and alone in naming another version is altered (returned)."""
    by_version: dict[tuple[str, Any], tuple[Any, Any]] = {}
    version_positions: dict[tuple[str, Any], Position] = {}
    by_place: dict[Position, Position] = {}
    for position, row in pairing.pairs.items():
        event = log.at[position]
        if _version_differs(event, row):
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
        # A version that changed by trading places with another row's was reported as a
        # reordering already; only a version changed alone makes the row altered.
        problem = _altered_row(log.at[position], row, position in version_changed)
        if problem is not None:
            problems.append(problem)
    return problems


def _altered_row(event: Logged, row: Row, version_changed: bool) -> Problem | None:
    """The row differs from its event in some envelope field (its version only counts if
    ``version_changed``)."""
    columns = [
        column
        for column in ENVELOPE_COLUMNS
        if (column == "version" and version_changed)
        or (column != "version" and not same(column, event.fields.get(column), row[column]))
    ]
    if not columns:
        return None
    differences = "; ".join(
        f"{column}: log {shown(column, event.fields.get(column), False)!r},"
        f" row {shown(column, row[column], True)!r}"
        for column in columns
    )
    return Problem(
        ProblemKind.AUDIT_ROW_ALTERED,
        event.where,
        f"the row of {event.label} differs from the log in {', '.join(columns)} ({differences})",
        event.case_id,
        event.partition,
        event.offset,
    )


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
