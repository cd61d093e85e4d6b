"""Verifying history: the log itself, and the audit trail in PostgreSQL against the log.

The log: per-case chains, the per-partition chain and its signed checkpoints. Works on the
records as stored (raw JSON), never on re-serialised models, so that what is verified is exactly
what is on the log.

The audit trail: every row against the event it claims to be (every envelope field, and where
the event is on the log), every event the projection has reached against its row. Rows are
compared with the event as the projector reads it (the envelope model, defaults filled in);
the raw bytes are what the hash checks cover.

A pure core (functions over lists of records and rows) and an async shell that reads Kafka and
PostgreSQL (``verify_system``, behind ``casetrail verify``). Each problem names where it is.
"""

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from events.model import Event
from services.checkpoints import Checkpoint, load_public_key, signature_valid
from services.kafka import read_to_end
from services.settings import Settings

Record = tuple[int, int, bytes]
"""A record of a topic as stored: (partition, offset, value)."""


@dataclass(frozen=True)
class Problem:
    kind: str
    """Of the log: altered_event, unreadable_event, version_gap, broken_case_chain,
    duplicate_event, case_on_two_partitions, forged_checkpoint, unreadable_checkpoint,
    log_differs_from_checkpoint, truncated_after_checkpoint. Of the audit trail:
    audit_row_altered, audit_row_missing, audit_row_extra, audit_row_moved,
    audit_rows_reordered."""
    where: str
    detail: str
    case_id: str | None = None
    """The case it touches; None for a problem of a whole partition (checkpoints, chain)."""
    partition: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "where": self.where,
            "detail": self.detail,
            "case_id": self.case_id,
            "partition": self.partition,
            "offset": self.offset,
        }


@dataclass
class LogReport:
    events: int = 0
    cases: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    sealed: dict[int, int] = field(default_factory=dict)
    """Per partition, how many of its first events the latest valid checkpoint on the log
    covers; the events after them are vouched for by their hash chains alone."""

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass
class _Case:
    partition: int
    version: int
    hash: str


def _read_event(raw: bytes) -> dict[str, Any]:
    """The fields of an event as stored; raises ValueError, KeyError or TypeError when it has
    no readable hash, case_id and version."""
    fields = json.loads(raw)
    if not isinstance(fields, dict):
        raise TypeError("not a JSON object")
    event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
    if not (isinstance(event_hash, str) and isinstance(case_id, str)):
        raise TypeError("hash and case_id must be strings")
    if type(version) is not int:
        raise TypeError("version must be an integer")
    return fields


def verify_log(
    events: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey | None,
) -> LogReport:
    """``events``: (partition, offset, raw value) in offset order within each partition."""
    report = LogReport()
    signed = list(checkpoints)
    report.checkpoints = len(signed)
    wanted: dict[int, dict[int, Checkpoint]] = {}
    for checkpoint in signed:
        if public_key is not None and not signature_valid(checkpoint, public_key):
            report.problems.append(
                Problem(
                    "forged_checkpoint",
                    f"checkpoint p{checkpoint.partition} count {checkpoint.count}",
                    "its signature does not verify with the key",
                    partition=checkpoint.partition,
                    offset=checkpoint.offset,
                )
            )
            continue
        wanted.setdefault(checkpoint.partition, {})[checkpoint.count] = checkpoint

    cases: dict[str, _Case] = {}
    seen_ids: set[str] = set()
    heads: dict[int, tuple[str, int]] = {}  # partition -> (head, count)
    for partition, offset, raw in events:
        where = f"p{partition}@{offset}"
        try:
            fields = _read_event(raw)
        except (ValueError, KeyError, TypeError) as error:
            report.problems.append(
                Problem("unreadable_event", where, str(error), partition=partition, offset=offset)
            )
            continue
        event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
        report.events += 1
        head, count = heads.get(partition, (GENESIS_HASH, 0))
        head, count = partition_chain(head, event_hash), count + 1
        heads[partition] = (head, count)
        covering = wanted.get(partition, {}).get(count)
        if covering is not None and (covering.head != head or covering.offset != offset):
            report.problems.append(
                Problem(
                    "log_differs_from_checkpoint",
                    where,
                    f"the chain of p{partition} after"
                    f" {count} events is not the one signed at offset {covering.offset}",
                    partition=partition,
                    offset=offset,
                )
            )
        if chain_hash(fields) != event_hash:
            report.problems.append(
                Problem(
                    "altered_event",
                    where,
                    f"{case_id} v{version}: content does not match its hash",
                    case_id,
                    partition,
                    offset,
                )
            )
        event_id = str(fields.get("event_id"))
        if event_id in seen_ids:
            report.problems.append(
                Problem(
                    "duplicate_event", where, f"event {event_id} twice", case_id, partition, offset
                )
            )
        seen_ids.add(event_id)
        _check_case(report, cases, fields, partition, offset)
    report.cases = len(cases)
    for partition, by_count in wanted.items():
        _, count = heads.get(partition, (GENESIS_HASH, 0))
        report.sealed[partition] = max((c for c in by_count if c <= count), default=0)
        beyond = [c for c in by_count if c > count]
        if beyond:
            report.problems.append(
                Problem(
                    "truncated_after_checkpoint",
                    f"p{partition}",
                    f"a checkpoint covers {max(beyond)} events but the log holds {count}",
                    partition=partition,
                )
            )
    return report


def _check_case(
    report: LogReport, cases: dict[str, _Case], fields: dict[str, Any], partition: int, offset: int
) -> None:
    case_id: str = fields["case_id"]
    version: int = fields["version"]
    where = f"p{partition}@{offset}"
    at = (case_id, partition, offset)
    known = cases.get(case_id)
    expected_version = known.version + 1 if known else 1
    expected_prev = known.hash if known else GENESIS_HASH
    if known is not None and known.partition != partition:
        report.problems.append(
            Problem(
                "case_on_two_partitions", where, f"{case_id} is also on p{known.partition}", *at
            )
        )
    if version != expected_version:
        report.problems.append(
            Problem(
                "version_gap", where, f"{case_id} v{version} follows v{expected_version - 1}", *at
            )
        )
    if fields.get("prev_hash") != expected_prev:
        report.problems.append(
            Problem(
                "broken_case_chain",
                where,
                f"{case_id} v{version}: prev_hash is not the hash of the event before it",
                *at,
            )
        )
    cases[case_id] = _Case(partition, version, fields["hash"])


# --- the audit trail against the log ------------------------------------------------------

AUDIT_COLUMNS = (
    "event_id",
    "case_id",
    "case_type",
    "version",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "actor",
    "department",
    "submission_id",
    "correlation_id",
    "causation_id",
    "payload",
    "prev_hash",
    "hash",
    "log_partition",
    "log_offset",
)
"""The columns of ``audit_trail``: every envelope field, then where the event is on the log."""

_ENVELOPE = AUDIT_COLUMNS[:-2]
_UUIDS = frozenset({"event_id", "submission_id", "correlation_id", "causation_id"})
_INSTANTS = frozenset({"occurred_at", "recorded_at"})
_JSON = frozenset({"actor", "payload"})

Position = tuple[int, int]


@dataclass(frozen=True)
class _Logged:
    """An event of the log as the projector reads it (its fields in JSON form)."""

    partition: int
    offset: int
    fields: dict[str, Any]

    @property
    def position(self) -> Position:
        return (self.partition, self.offset)

    @property
    def where(self) -> str:
        return f"p{self.partition}@{self.offset}"

    @property
    def case_id(self) -> str:
        return str(self.fields["case_id"])

    @property
    def label(self) -> str:
        return f"{self.fields['case_id']} v{self.fields['version']} ({self.fields['type']})"


@dataclass
class AuditReport:
    rows: int = 0
    """Rows compared (with a case: that case's rows)."""
    not_yet_projected: int = 0
    """Events the projection has not reached yet, so without a row and rightly so."""
    problems: list[Problem] = field(default_factory=list)


def _comparable(column: str, value: Any, from_row: bool) -> Any:
    """A value in a form where equal means the same: UUIDs and instants parsed (timestamps
    compare as instants whatever their zone), JSON by value, anything else by type and value
    (so that 1, 1.0, True and "1" all differ)."""
    if value is None:
        return None
    if column in _UUIDS:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            return ("text", str(value))
    if column in _INSTANTS:
        moment = value
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return ("text", value)
        if isinstance(moment, datetime) and moment.tzinfo is not None:
            return moment.astimezone(UTC)
        return ("naive", str(moment))
    if column in _JSON:
        if from_row and isinstance(value, str):
            value = json.loads(value)  # jsonb as text
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (type(value).__name__, value)


def _shown(column: str, value: Any, from_row: bool) -> str:
    comparable = _comparable(column, value, from_row)
    if isinstance(comparable, tuple):
        comparable = comparable[1]
    text = comparable.isoformat() if isinstance(comparable, datetime) else str(comparable)
    return text if len(text) <= 80 else text[:77] + "..."


def _logged(events: Iterable[Record]) -> list[_Logged]:
    """The events the projector can read; the others are the log check's to report (and the
    projector stops at them, so they never have rows)."""
    out = []
    for partition, offset, raw in events:
        try:
            fields = Event.model_validate_json(raw).model_dump(mode="json")
        except ValidationError:
            continue
        out.append(_Logged(partition, offset, fields))
    return out


def _row_position(row: Mapping[str, Any]) -> Position:
    return (row["log_partition"], row["log_offset"])


def _row_id(row: Mapping[str, Any]) -> Any:
    return _comparable("event_id", row["event_id"], True)


class _Log:
    """The logged events, found by id and by place, and those in scope (all, or one case's)."""

    def __init__(self, events: Iterable[Record], case: str | None):
        self.events = _logged(events)
        self.by_id: dict[Any, _Logged] = {}
        self.at: dict[Position, _Logged] = {}
        for event in self.events:
            self.by_id.setdefault(_comparable("event_id", event.fields["event_id"], False), event)
            self.at[event.position] = event
        self.case = case
        self.in_scope = [e for e in self.events if case is None or e.case_id == case]
        self.scope_ids = {
            _comparable("event_id", e.fields["event_id"], False) for e in self.in_scope
        }
        self.scope_positions = {e.position for e in self.in_scope}

    def row_in_scope(self, row: Mapping[str, Any]) -> bool:
        return (
            self.case is None
            or row["case_id"] == self.case
            or _row_id(row) in self.scope_ids
            or _row_position(row) in self.scope_positions
        )


@dataclass
class _Pairing:
    """Each audit row with the logged event it claims to be: by event_id, else (its event_id
    having been changed) by the place on the log it names; the rows left over are extra."""

    rows: int = 0
    pairs: dict[Position, Mapping[str, Any]] = field(default_factory=dict)
    extra: list[Mapping[str, Any]] = field(default_factory=list)


def _pair(log: _Log, rows: Iterable[Mapping[str, Any]]) -> _Pairing:
    pairing = _Pairing()
    unmatched = []
    for row in rows:
        if not log.row_in_scope(row):
            continue
        pairing.rows += 1
        claimed = log.by_id.get(_row_id(row))
        if claimed is not None and claimed.position not in pairing.pairs:
            pairing.pairs[claimed.position] = row
        else:
            unmatched.append(row)
    for row in unmatched:
        position = _row_position(row)
        if position in log.scope_positions and position not in pairing.pairs:
            pairing.pairs[position] = row
        else:
            pairing.extra.append(row)
    return pairing


def _moves(log: _Log, pairing: _Pairing) -> tuple[list[Problem], set[Position]]:
    """Rows that name another place on the log, or another version of the case, than their
    event's. Rows trading places among themselves are a reordering; a row alone in naming
    another place is moved, and alone in naming another version is altered (returned)."""
    by_version: dict[tuple[str, Any], tuple[Any, Any]] = {}
    version_positions: dict[tuple[str, Any], Position] = {}
    by_place: dict[Position, Position] = {}
    for position, row in pairing.pairs.items():
        event = log.at[position]
        if _comparable("version", event.fields["version"], False) != _comparable(
            "version", row["version"], True
        ):
            key = (event.case_id, event.fields["version"])
            by_version[key] = (row["case_id"], row["version"])
            version_positions[key] = position
        if _row_position(row) != position:
            by_place[position] = _row_position(row)

    problems = []
    version_cycles, versions_changed = _cycles(by_version)
    for cycle in version_cycles:
        moved = [log.at[version_positions[key]] for key in cycle]
        says = [f"the row of {e.label} says v{pairing.pairs[e.position]['version']}" for e in moved]
        problems.append(_reordered(moved, says))
    place_cycles, places_changed = _cycles(by_place)
    for cycle in place_cycles:
        moved = [log.at[position] for position in cycle]
        says = [f"the row of {e.label} says {_place(pairing.pairs[e.position])}" for e in moved]
        problems.append(_reordered(moved, says))
    for position in places_changed:
        event, row = log.at[position], pairing.pairs[position]
        there = log.at.get(_row_position(row))
        problems.append(
            Problem(
                "audit_row_moved",
                event.where,
                f"the row of {event.label} says it is at {_place(row)}, where the log has "
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


def _place(row: Mapping[str, Any]) -> str:
    return f"p{row['log_partition']}@{row['log_offset']}"


def _altered(log: _Log, pairing: _Pairing, version_changed: set[Position]) -> list[Problem]:
    problems = []
    for position, row in pairing.pairs.items():
        event = log.at[position]
        columns = [
            column
            for column in _ENVELOPE
            if (column == "version" and position in version_changed)
            or (
                column != "version"
                and _comparable(column, event.fields.get(column), False)
                != _comparable(column, row[column], True)
            )
        ]
        if not columns:
            continue
        differences = "; ".join(
            f"{column}: log {_shown(column, event.fields.get(column), False)!r},"
            f" row {_shown(column, row[column], True)!r}"
            for column in columns
        )
        problems.append(
            Problem(
                "audit_row_altered",
                event.where,
                f"the row of {event.label} differs from the log in {', '.join(columns)}"
                f" ({differences})",
                event.case_id,
                event.partition,
                event.offset,
            )
        )
    return problems


def _extra(log: _Log, pairing: _Pairing) -> list[Problem]:
    problems = []
    for row in pairing.extra:
        claimed = _row_position(row)
        there = log.at.get(claimed)
        twin = log.by_id.get(_row_id(row))
        why = (
            f"a second row for the event at {twin.where}"
            if twin is not None
            else f"no event {row['event_id']} on the log"
            + (f" ({_place(row)} holds {there.label})" if there else "")
        )
        problems.append(
            Problem(
                "audit_row_extra",
                f"audit_trail row {row['event_id']}",
                f"the row of {row['case_id']} v{row['version']} ({row['type']})"
                f" at {_place(row)}: {why}",
                str(row["case_id"]),
                claimed[0],
                claimed[1],
            )
        )
    return problems


def compare_audit_trail(
    events: Iterable[Record],
    rows: Iterable[Mapping[str, Any]],
    projected: Mapping[int, int],
    case: str | None = None,
) -> AuditReport:
    """Compare the rows of ``audit_trail`` with the log, row by row.

    ``events``: every record of the events topic, (partition, offset, raw value). ``rows``: the
    audit trail's rows (columns ``AUDIT_COLUMNS``; jsonb as text or decoded). ``projected``: per
    partition, the next offset the audit-trail projection will apply; an event at or beyond it
    is not yet projected rather than missing. With ``case``, only the rows and events of that
    case are compared (a row belongs to the case if it says so, or if it claims one of the
    case's events or places on the log).
    """
    log = _Log(events, case)
    pairing = _pair(log, rows)
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
                "audit_row_missing",
                event.where,
                f"{event.label} has no row, though the audit trail has applied"
                f" p{event.partition} up to offset {projected[event.partition] - 1}",
                event.case_id,
                event.partition,
                event.offset,
            )
        )
    report.problems.sort(key=_order)
    return report


def _reordered(moved: list[_Logged], details: list[str]) -> Problem:
    moved_and_details = sorted(zip(moved, details, strict=True), key=lambda m: m[0].position)
    first = moved_and_details[0][0]
    cases = {e.case_id for e in moved}
    return Problem(
        "audit_rows_reordered",
        ", ".join(e.where for e, _ in moved_and_details),
        "; ".join(d for _, d in moved_and_details),
        case_id=first.case_id if len(cases) == 1 else None,
        partition=first.partition,
        offset=first.offset,
    )


def _order(problem: Problem) -> tuple[int, int, str, str]:
    return (
        -1 if problem.partition is None else problem.partition,
        -1 if problem.offset is None else problem.offset,
        problem.kind,
        problem.where,
    )


# --- everything together -------------------------------------------------------------------

PARTITION_LEVEL = frozenset(
    {
        "forged_checkpoint",
        "unreadable_checkpoint",
        "log_differs_from_checkpoint",
        "truncated_after_checkpoint",
        "unreadable_event",
    }
)
"""Problems of a whole partition: with a case, they are reported too, since the partition chain
is what vouches for the case's place in the log (and for a case removed altogether)."""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class Verification:
    """The outcome of ``casetrail verify``."""

    case: str | None
    events: int
    """Events verified (with a case: that case's events)."""
    cases: int
    checkpoints: int
    audit_rows: int | None
    """Audit rows compared; None when the audit trail was not compared (log only)."""
    not_yet_projected: int
    after_last_checkpoint: int
    """Events (of the case) that no valid checkpoint covers yet."""
    log_events: int
    log_cases: int
    problems: list[Problem]

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rows = (
            "audit trail not compared"
            if self.audit_rows is None
            else _plural(self.audit_rows, "audit row")
        )
        verdict = "intact" if self.intact else _plural(len(self.problems), "problem")
        log = f"{_plural(self.checkpoints, 'checkpoint')}"
        if self.case is None:
            counts = f"{_plural(self.events, 'event')}, {_plural(self.cases, 'case')}, {log}"
            return f"{counts}, {rows}: {verdict}"
        whole = f"{_plural(self.log_events, 'event')}, {_plural(self.log_cases, 'case')}, {log}"
        return (
            f"case {self.case}: {_plural(self.events, 'event')}, {rows} (log: {whole}): {verdict}"
        )

    def notes(self) -> list[str]:
        notes = []
        if self.not_yet_projected:
            notes.append(
                f"note: {_plural(self.not_yet_projected, 'event')} not in the audit trail yet"
                " (the projection has not reached them)"
            )
        if self.after_last_checkpoint:
            notes.append(
                f"note: {_plural(self.after_last_checkpoint, 'event')} after the last signed"
                " checkpoint of their partition: only their hash chains vouch for them"
            )
        return notes

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "case": self.case,
            "events": self.events,
            "cases": self.cases,
            "checkpoints": self.checkpoints,
            "audit_rows": self.audit_rows,
            "not_yet_projected": self.not_yet_projected,
            "after_last_checkpoint": self.after_last_checkpoint,
            "log": {"events": self.log_events, "cases": self.log_cases},
            "problems": [p.as_json() for p in self.problems],
        }


def verify(
    events: Sequence[Record],
    checkpoint_records: Iterable[Record],
    public_key: Ed25519PublicKey | None,
    rows: Iterable[Mapping[str, Any]] | None,
    projected: Mapping[int, int],
    case: str | None = None,
) -> Verification:
    """The log (``events`` and ``checkpoint_records`` as stored) and, unless ``rows`` is None,
    the audit trail against it. With ``case``, the chains and checkpoints are still computed over
    the whole log, but only problems touching that case are reported, plus those of whole
    partitions; the audit trail is compared for that case only."""
    problems: list[Problem] = []
    checkpoints = []
    for partition, offset, raw in checkpoint_records:
        try:
            checkpoints.append(Checkpoint.model_validate_json(raw))
        except ValidationError as error:
            problems.append(
                Problem(
                    "unreadable_checkpoint",
                    f"checkpoints p{partition}@{offset}",
                    f"not a checkpoint: {error.errors()[0]['msg']}",
                    partition=partition,
                )
            )
    log = verify_log(events, checkpoints, public_key)
    problems += [p for p in log.problems if case is None or p.case_id in (None, case)]

    counts: dict[int, int] = {}
    in_scope = after_last_checkpoint = 0
    for partition, _, raw in events:
        try:
            fields = _read_event(raw)
        except (ValueError, KeyError, TypeError):
            continue
        counts[partition] = counts.get(partition, 0) + 1
        if case is None or fields["case_id"] == case:
            in_scope += 1
            if counts[partition] > log.sealed.get(partition, 0):
                after_last_checkpoint += 1

    audit = None
    if rows is not None:
        audit = compare_audit_trail(events, rows, projected, case)
        problems += audit.problems
    return Verification(
        case=case,
        events=in_scope,
        cases=log.cases if case is None else min(in_scope, 1),
        checkpoints=log.checkpoints + sum(p.kind == "unreadable_checkpoint" for p in problems),
        audit_rows=None if audit is None else audit.rows,
        not_yet_projected=0 if audit is None else audit.not_yet_projected,
        after_last_checkpoint=after_last_checkpoint,
        log_events=log.events,
        log_cases=log.cases,
        problems=sorted(problems, key=_order),
    )


# --- reading Kafka and PostgreSQL -----------------------------------------------------------

AUDIT_PROJECTION = "audit_trail"


class CannotVerify(RuntimeError):
    """Verification could not run: a server does not answer, a topic, table or key is missing."""


@contextmanager
def _talking_to(what: str) -> Iterator[None]:
    try:
        yield
    except CannotVerify:
        raise
    except asyncpg.UndefinedTableError as error:
        raise CannotVerify(
            f"{what}: {error} (has the projector run? --log-only checks the log alone)"
        ) from error
    except (KafkaError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        text = str(e)
        if not text.startswith(type(e).__name__):
            text = f"{type(e).__name__}: {text}"
        raise CannotVerify(f"{what}: {text}") from e


async def audit_trail_progress(conn: asyncpg.Connection, topic: str) -> dict[int, int]:
    """How far the audit-trail projection has applied each partition of ``topic``: the next
    offset it will apply. The one place that knows where the projector keeps its progress
    (today: the ``projection_checkpoint`` table in the live build's schema)."""
    if await conn.fetchval("SELECT to_regclass('projection_builds')") is None:
        return {}  # no projection has ever run: nothing is due in the audit trail yet
    from projections import builds

    return await builds.live_offsets(conn, AUDIT_PROJECTION, topic)


async def read_topic(settings: Settings, topic: str) -> list[Record]:
    """Every committed record of every partition of ``topic``, in offset order per partition."""
    with _talking_to(f"Kafka at {settings.kafka_bootstrap}"):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        if described["error_code"] != 0 or not described["partitions"]:
            raise CannotVerify(f"topic {topic} does not exist on {settings.kafka_bootstrap}")
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        records = [
            (record.partition, record.offset, record.value or b"")
            async for record in read_to_end(settings.kafka_bootstrap, partitions)
        ]
    return sorted(records, key=lambda r: (r[0], r[1]))


async def read_audit_trail(
    conn: asyncpg.Connection, events: Sequence[Record], case: str | None
) -> list[dict[str, Any]]:
    """The rows of ``audit_trail`` (with a case: those that say they are the case's, or claim
    one of its events or places on the log)."""
    columns = ", ".join(f"{c}::text AS {c}" if c in _JSON else c for c in AUDIT_COLUMNS)
    if case is None:
        rows = await conn.fetch(f"SELECT {columns} FROM audit_trail")
    else:
        mine = _Log(events, case).in_scope
        rows = await conn.fetch(
            f"SELECT {columns} FROM audit_trail WHERE case_id = $1 OR event_id = ANY($2::uuid[])"
            " OR (log_partition, log_offset) IN"
            " (SELECT * FROM unnest($3::integer[], $4::bigint[]))",
            case,
            [uuid.UUID(e.fields["event_id"]) for e in mine],
            [e.partition for e in mine],
            [e.offset for e in mine],
        )
    return [dict(row) for row in rows]


async def verify_system(
    settings: Settings, case: str | None = None, audit_trail: bool = True
) -> Verification:
    """Read the log (events and checkpoints topics) and the audit trail, and verify them.

    The audit trail is read in one REPEATABLE READ snapshot taken before the log is read, so
    that every row and the projection's progress come from one moment and every event they
    refer to is already on the log when it is read. Raises ``CannotVerify``."""
    try:
        public_key = load_public_key(settings.signing_key_path)
    except (OSError, ValueError) as error:
        raise CannotVerify(f"no public key to check the checkpoints with: {error}") from error
    rows: list[dict[str, Any]] | None = None
    projected: dict[int, int] = {}
    if not audit_trail:
        events = await read_topic(settings, settings.events_topic)
        checkpoints = await read_topic(settings, settings.checkpoints_topic)
    else:
        url = urlsplit(settings.postgres_dsn)  # named without its password
        database = f"PostgreSQL at {url.hostname}:{url.port or 5432}{url.path}"
        with _talking_to(database):
            conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
        try:
            with _talking_to(database):
                snapshot = conn.transaction(isolation="repeatable_read", readonly=True)
                await snapshot.start()
                projected = await audit_trail_progress(conn, settings.events_topic)
            events = await read_topic(settings, settings.events_topic)
            checkpoints = await read_topic(settings, settings.checkpoints_topic)
            with _talking_to(database):
                rows = await read_audit_trail(conn, events, case)
                await snapshot.rollback()
        finally:
            await conn.close()
    result = verify(events, checkpoints, public_key, rows, projected, case)
    if case is not None and result.intact and not result.events and not result.audit_rows:
        raise CannotVerify(f"no case {case} on the log or in the audit trail")
    return result
