"""Audit rows paired with the logged events they claim to be, and values put in a form where
equal means the same.

Rows are compared with the event as the projector reads it (the envelope model, defaults filled
in); the raw bytes are what the hash checks of ``log_check`` cover.
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from events.model import Event
from projections.read_models.audit_trail import JSON_COLUMNS

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


def logged(partition: int, offset: int, raw: bytes) -> Logged | None:
    """The event as the projector reads it, or None if it cannot (the log check reports it,
    and the projector stops at it, so it never has a row)."""
    try:
        fields = Event.model_validate_json(raw).model_dump(mode="json")
    except ValidationError:
        return None
    return Logged(partition, offset, fields)


def event_id(event: Logged) -> uuid.UUID:
    """A logged event's id as rows are compared with it (the model made it a UUID)."""
    return uuid.UUID(event.fields["event_id"])


@dataclass
class LogIndex:
    """Logged events found by place and by id: those a comparison looks up."""

    at: dict[Position, Logged] = field(default_factory=dict)
    by_id: dict[Any, Logged] = field(default_factory=dict)
    """The first event of the log with each id."""


@dataclass
class Pairing:
    """Each audit row with the logged event it claims to be: by event_id, else (its event_id
    having been changed) by the place on the log it names; the rows left over are extra."""

    rows: int = 0
    pairs: dict[Position, Mapping[str, Any]] = field(default_factory=dict)
    extra: list[Mapping[str, Any]] = field(default_factory=list)
