"""The query service's response bodies, and the refusals every protected endpoint may give."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from services.adapters.http import refusals


class CaseSummaryOut(BaseModel):
    case_id: str
    case_type: str
    status: str
    owner_department: str
    assigned_officer: str | None
    channel: str | None
    opened_at: datetime
    closed_at: datetime | None
    version: int
    last_event_at: datetime
    last_recorded_at: datetime


class DeadlineOut(BaseModel):
    clock: str
    due_day: date | None
    """None when the calendar cannot count it (light ``unknown``)."""
    due_at: datetime | None
    light: str


class LinkOut(BaseModel):
    other_case_id: str
    kind: str
    """related, repeat_of, originated_from (labels: ``CaseLinkKind``, and as seen from the other
    case, ``CaseLinkKindSeenFromTheOtherCase``, in ``GET /labels``)."""
    direction: str
    """``outgoing``: recorded on this case (this case is a repeat of, originated from, the
    other); ``incoming``: recorded on the other case, naming this one."""
    note: str
    linked_at: datetime
    recorded_at: datetime
    other_case_type: str | None
    """None while the other case is not in the read model (not registered yet)."""
    other_status: str | None


class CaseOut(CaseSummaryOut):
    deadlines: list[DeadlineOut]
    light: str | None
    """The worst light of its open deadlines (红灯 red, 黄灯 yellow, 绿灯 green); None if none."""
    links: list[LinkOut] = []
    """Its links to other cases the caller may read, oldest first."""


class CasePage(BaseModel):
    cases: list[CaseSummaryOut]
    next: str | None
    """Pass as ``after`` for the next page; None on the last page."""


class DeadlineRow(BaseModel):
    case_id: str
    case_type: str
    clock: str
    owner_department: str
    assigned_officer: str | None
    due_day: date | None
    """None when the calendar cannot count it (light ``unknown``)."""
    due_at: datetime | None
    light: str


class ActivityRow(BaseModel):
    officer_id: str
    occurred_at: datetime
    recorded_at: datetime
    event_id: str
    case_id: str
    case_type: str
    version: int
    type: str
    role: str
    department: str
    certificate: str | None


class OfficerOut(BaseModel):
    officer_id: str
    name: str
    department: str
    roles: list[str]


class HistoryEntry(BaseModel):
    event_id: str
    version: int
    type: str
    schema_version: int
    """The version of ``payload``'s shape: as stored for a reader who sees personal data; the
    current one when masked (masking runs on the payload upcast to the current schema)."""
    occurred_at: datetime
    recorded_at: datetime
    actor: dict[str, Any]
    department: str
    submission_id: str
    vouched_by: dict[str, Any] | None = None
    """Whose signature the decider checked: key_id, department, kind (department or gateway)."""
    payload: dict[str, Any]
    prev_hash: str
    hash: str


refused = refusals(401, 403, 404, 422, 503)
"""What a protected endpoint may refuse with: no token, not for this token, not found, an invalid
request, PostgreSQL not answering."""


class YearOverYear(BaseModel):
    """同比: each count's relative change against the year before (-0.09: 9% fewer); None when
    the year before had none to compare with."""

    cases: float | None
    accepted: float | None
    persons: float | None
    closed: float | None
    closed_on_time: float | None
    replied: float | None
    mediations_agreed: float | None


class StatisticsRow(BaseModel):
    """The figures of one group (``projections.queries.statistics`` defines each): counts
    integers, rates numbers from 0 to 1 (None over nothing, e.g. no case accepted), money in
    integer fen. A row holds the dimensions it is grouped by, and only those."""

    case_type: str | None = None
    department: str | None = None
    channel: str | None = None
    """'' for cases registered without a channel."""
    status: str | None = None
    month: str | None = None
    """YYYY-MM, in China time."""
    cases: int
    accepted: int
    persons: int
    closed: int
    closure_rate: float | None
    closed_on_time: int
    on_time_closure_rate: float | None
    replied: int
    reply_rate: float | None
    mediations_agreed: int
    mediation_success_rate: float | None
    amount_in_dispute_fen: int
    """涉案金额, in fen (分): 100 fen are 1 yuan."""
    average_handling_days: float | None
    longest_handling_days: float | None
    supervision_notes: int
    supervision_answered_on_time: int
    supervision_on_time_rate: float | None
    year_over_year: YearOverYear


class StatisticsOut(BaseModel):
    year: int
    as_of: datetime | None
    """The instant the figures are as of; None: now."""
    basis: str | None
    """recorded or occurred, with ``as_of``."""
    by: list[str]
    rows: list[StatisticsRow]
