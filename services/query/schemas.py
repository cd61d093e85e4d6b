"""The query service's response bodies, and the refusals every protected endpoint may give."""

from datetime import date, datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from services.adapters.http import refusals
from services.query.exports import CSV_TYPE, PDF_TYPE, XLSX_TYPE


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


class CsvFile(Response):
    media_type = CSV_TYPE


class XlsxFile(Response):
    media_type = XLSX_TYPE


class PdfFile(Response):
    media_type = PDF_TYPE


def exported(
    media_type: str, description: str, *others: tuple[int, str]
) -> dict[int | str, dict[str, Any]]:
    """The answers of an export: the file (a download, see its Content-Disposition); the
    refusals of its JSON equivalent, 422 for a parameter it refuses, 503 without PostgreSQL and
    ``others`` (a code given again there says more of it), in the JSON error shape. Declared
    with their content type: the route's own (``response_class``) is the file's, not theirs."""
    file = {
        "description": description + " (Content-Disposition: attachment, RFC 5987 filename*)",
        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
    }
    errors = {
        401: "No valid token",
        403: "Not for this token",
        404: "Not found",
        422: "A parameter is not valid (invalid_payload, invalid_dimension, …)",
        503: "database_unavailable: PostgreSQL does not answer; try again",
    }
    errors.update(dict(others))
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {
        200: file,
        **{code: {"description": text, "content": error} for code, text in errors.items()},
    }


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
