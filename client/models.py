"""The query API's answers the client reads, as the query service publishes them in its OpenAPI
document (``GET /openapi.json``: ``CaseOut``, ``DeadlineOut``, ``LinkOut``). Submissions and
outcomes are not here: they are the contract's own models (``events.submissions``,
``events.model.Outcome``), used as they are.

Strict: a number must come as a JSON number and an instant as an ISO 8601 string; a field the
service adds later is ignored. ``tests/unit/test_client.py`` holds these models to the query
service's OpenAPI document, so that they cannot drift from it unnoticed."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from events.model import CaseType


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="ignore")


class Deadline(Answer):
    clock: str
    """The deadline rule (its label: ``GET /labels``), e.g. ``petition.handling``."""
    due_day: date | None
    """None when the calendar cannot count it (light ``unknown``)."""
    due_at: datetime | None
    light: str
    """``red``, ``yellow``, ``green`` or ``unknown``."""


class Link(Answer):
    other_case_id: str
    kind: str
    direction: str
    """``outgoing``: recorded on this case; ``incoming``: recorded on the other case."""
    note: str
    linked_at: datetime
    recorded_at: datetime
    other_case_type: str | None
    other_status: str | None


class Case(Answer):
    """A case as ``GET /cases/{case_id}`` shows it to the token's department."""

    case_id: str
    case_type: CaseType
    status: str
    owner_department: str
    assigned_officer: str | None
    channel: str | None
    opened_at: datetime
    closed_at: datetime | None
    version: int
    """The number of its events: an outcome's ``version`` once the projection has it."""
    last_event_at: datetime
    last_recorded_at: datetime
    deadlines: tuple[Deadline, ...]
    light: str | None
    """The worst light of its open deadlines; None when it has none."""
    links: tuple[Link, ...] = ()
