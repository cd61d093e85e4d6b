"""Audit rows paired with the logged events they claim to be, and values put in a form where
equal means the same.

Rows are compared with the event as the projector reads it (the envelope model, defaults filled
in); the raw bytes are what the hash checks of ``log_check`` cover.
"""

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from events.model import Event
from projections.read_models.audit_trail import JSON_COLUMNS
from services.integrity.problems import Record

_UUIDS = frozenset({"event_id", "submission_id", "correlation_id", "causation_id"})
_INSTANTS = frozenset({"occurred_at", "recorded_at"})

Position = tuple[int, int]
"""Where an event is on the log: (partition, offset)."""


@dataclass(frozen=True)
class Logged:
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


def comparable(column: str, value: Any, from_row: bool) -> Any:
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
    if column in JSON_COLUMNS:
        if from_row and isinstance(value, str):
            value = json.loads(value)  # jsonb as text
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return (type(value).__name__, value)


def shown(column: str, value: Any, from_row: bool) -> str:
    """A value as a problem's detail quotes it (cut short, so that one line stays readable)."""
    compared = comparable(column, value, from_row)
    if isinstance(compared, tuple):
        compared = compared[1]
    text = compared.isoformat() if isinstance(compared, datetime) else str(compared)
    return text if len(text) <= 80 else text[:77] + "..."


def row_position(row: Mapping[str, Any]) -> Position:
    return (row["log_partition"], row["log_offset"])


def row_id(row: Mapping[str, Any]) -> Any:
    return comparable("event_id", row["event_id"], True)


def place(row: Mapping[str, Any]) -> str:
    return f"p{row['log_partition']}@{row['log_offset']}"


def _logged(events: Iterable[Record]) -> list[Logged]:
    """The events the projector can read; the others are the log check's to report (and the
    projector stops at them, so they never have rows)."""
    out = []
    for partition, offset, raw in events:
        try:
            fields = Event.model_validate_json(raw).model_dump(mode="json")
        except ValidationError:
            continue
        out.append(Logged(partition, offset, fields))
    return out


class LogIndex:
    """The logged events, found by id and by place, and those in scope (all, or one case's)."""

    def __init__(self, events: Iterable[Record], case: str | None):
        self.events = _logged(events)
        self.by_id: dict[Any, Logged] = {}
        self.at: dict[Position, Logged] = {}
        for event in self.events:
            self.by_id.setdefault(comparable("event_id", event.fields["event_id"], False), event)
            self.at[event.position] = event
        self.case = case
        self.in_scope = [e for e in self.events if case is None or e.case_id == case]
        self.scope_ids = {
            comparable("event_id", e.fields["event_id"], False) for e in self.in_scope
        }
        self.scope_positions = {e.position for e in self.in_scope}

    def row_in_scope(self, row: Mapping[str, Any]) -> bool:
        return (
            self.case is None
            or row["case_id"] == self.case
            or row_id(row) in self.scope_ids
            or row_position(row) in self.scope_positions
        )


@dataclass
class Pairing:
    """Each audit row with the logged event it claims to be: by event_id, else (its event_id
    having been changed) by the place on the log it names; the rows left over are extra."""

    rows: int = 0
    pairs: dict[Position, Mapping[str, Any]] = field(default_factory=dict)
    extra: list[Mapping[str, Any]] = field(default_factory=list)


def pair(log: LogIndex, rows: Iterable[Mapping[str, Any]]) -> Pairing:
    pairing = Pairing()
    unmatched = []
    for row in rows:
        if not log.row_in_scope(row):
            continue
        pairing.rows += 1
        claimed = log.by_id.get(row_id(row))
        if claimed is not None and claimed.position not in pairing.pairs:
            pairing.pairs[claimed.position] = row
        else:
            unmatched.append(row)
    # Only after every row had its chance by event_id: a row whose id was changed must not take
    # the place of the row that really is that event's.
    for row in unmatched:
        position = row_position(row)
        if position in log.scope_positions and position not in pairing.pairs:
            pairing.pairs[position] = row
        else:
            pairing.extra.append(row)
    return pairing
