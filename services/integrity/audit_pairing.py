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
from functools import cached_property
from typing import Any

import orjson
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

    @cached_property
    def id(self) -> uuid.UUID:
        """Its event_id as rows are compared with it (the model made it a UUID)."""
        return uuid.UUID(self.fields["event_id"])


def comparable(column: str, value: Any, from_row: bool) -> Any:
    """A value in a form where equal means the same: UUIDs and instants parsed (timestamps
    compare as instants whatever their zone), JSON by value, anything else by type and value
    (so that 1, 1.0, True and "1" all differ)."""
    if value is None:
        return None
    if column in _UUIDS:
        if isinstance(value, uuid.UUID):
            return value  # as PostgreSQL gives a uuid column
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


def same(column: str, logged: Any, row: Any) -> bool:
    """Whether a row's value is the logged one: ``comparable`` on both, with a shortcut for
    what an intact row holds (every row of an intact audit trail is compared, every field)."""
    if column in _UUIDS:
        if isinstance(row, uuid.UUID) and str(row) == logged:
            return True  # str of a UUID is canonical, and so is the model's JSON
    elif column in _INSTANTS:
        if isinstance(row, datetime) and row.tzinfo is not None and isinstance(logged, str):
            try:
                if datetime.fromisoformat(logged) == row:  # aware: equal as instants
                    return True
            except ValueError:
                pass
    elif column in JSON_COLUMNS and isinstance(row, str):
        try:
            # Equal in orjson's sorted form is equal in comparable's (1, 1.0 and true differ
            # in both); anything else is decided by comparable itself.
            if orjson.dumps(orjson.loads(row), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
                logged, option=orjson.OPT_SORT_KEYS
            ):
                return True
        except (orjson.JSONDecodeError, TypeError):
            pass
    elif type(row) is type(logged) and row == logged:
        return True  # comparable compares anything else by type and value
    return bool(comparable(column, logged, False) == comparable(column, row, True))


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
    return event.id


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
