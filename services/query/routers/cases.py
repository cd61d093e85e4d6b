"""Cases: the list (and its CSV and Excel exports), one case, its history, its case file (PDF),
the case as of an instant, its hash chain."""

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Response
from pydantic import TypeAdapter

from events.as_of import Basis, replay
from events.deadlines import worst
from events.model import CaseId
from events.officers import Officer
from events.privacy import MASK
from projections.db import Connection
from projections.queries import access_log, cases, deadlines
from projections.queries.cases import CaseFilter, Key
from projections.read_models.cases import LINKED
from services.adapters.http import ApiError, ErrorCode, Instant, StorableText, Text
from services.integrity.case_chain import broken_links
from services.privacy.keystore import KeyStore
from services.privacy.sealing import opened_steps
from services.query import wording
from services.query.access import CASE_READERS, HistoryView, Reader
from services.query.case_file import CaseFile, font_file, made_now, render
from services.query.dependencies import AppSettings, Caller, Directory, Keys, Pool
from services.query.export_tables import case_sheet
from services.query.exports import (
    CSV_TYPE,
    PDF_TYPE,
    XLSX_TYPE,
    Sheet,
    csv_bytes,
    download,
    made_aside,
    today,
    xlsx_bytes,
)
from services.query.schemas import (
    CaseOut,
    CasePage,
    CsvFile,
    HistoryEntry,
    PdfFile,
    XlsxFile,
    exported,
    refused,
)
from services.query.vouching import vouching
from services.tokens import TokenRole

router = APIRouter()

CHAIN_CHECKED = (
    "仅数据库中的审计记录（未核对 Kafka 日志与签名检查点：请运行 casetrail verify）/ the"
    " audit-trail rows in the database only (not the Kafka log nor its signed checkpoints: run"
    " casetrail verify)"
)
"""What ``/cases/{id}/chain`` checked, in its answer, so that no client reads more into it."""


def cursor(key: Key) -> str:
    """The opaque ``next`` of a page, which the client passes back as ``after``."""
    moment, case_id = key
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{case_id}".encode()).decode()


_KEY: TypeAdapter[tuple[datetime, str]] = TypeAdapter(tuple[Instant, CaseId])
"""A cursor's key as this service gives it: an instant and a case id (whatever a client sends
back as one, no text PostgreSQL cannot hold and no instant it cannot take)."""


def key_of(after: str) -> Key:
    try:
        moment, case_id = base64.urlsafe_b64decode(after.encode()).decode().split("|", 1)
        return _KEY.validate_python((moment, case_id))
    except ValueError:  # not base64, not UTF-8, no "|", or not a key (pydantic's errors too)
        raise ApiError(
            422, ErrorCode.INVALID_CURSOR, "after: not a cursor this service gave"
        ) from None


def unknown_case(case_id: str) -> ApiError:
    """The one answer for a case that does not exist and for a case the caller may not read:
    a 403 for the latter would tell anyone with a token which case ids exist."""
    return ApiError(404, ErrorCode.UNKNOWN_CASE, f"没有此案件 / no case {case_id}")


async def visible_case(conn: Connection, who: Reader, case_id: str) -> dict[str, Any]:
    """The case's summary if it exists and ``who`` may read it; 404 otherwise (either way)."""
    who.require(*CASE_READERS)
    case = await cases.summary(conn, case_id)
    if case is None or not who.may_read_case(case["owner_department"]):
        raise unknown_case(case_id)
    return case


def case_filter(
    who: Caller,
    case_type: Text | None = None,
    department: Text | None = None,
    status: Text | None = None,
    channel: Text | None = None,
    light: Literal["red", "yellow", "green", "unknown"] | None = None,
    officer: Text | None = None,
    opened_from: Instant | None = None,
    opened_to: Instant | None = None,
    occurred_from: Instant | None = Query(None, description="Last step happened from"),
    occurred_to: Instant | None = None,
    recorded_from: Instant | None = Query(None, description="Last step recorded from"),
    recorded_to: Instant | None = None,
    q: Text | None = Query(
        None,
        description="Search: each word begins the case id or is found in what the case is about"
        " (subject, summary, cause, dispute) or its filing, decision or ruling number; never in"
        " personal data",
    ),
) -> CaseFilter:
    """The cases a list shows, within the caller's scope: the same for the JSON list and its
    exports."""
    who.require(*CASE_READERS)
    return CaseFilter(
        case_type=case_type,
        department=department,
        status=status,
        channel=channel,
        officer=officer,
        opened_from=opened_from,
        opened_to=opened_to,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
        departments=who.departments(),
        light=light,
        q=q,
    )


Filter = Annotated[CaseFilter, Depends(case_filter)]


@router.get("/cases", response_model=CasePage, responses=refused)
async def list_cases(
    where: Filter,
    pool: Pool,
    after: Text | None = Query(None, description="The 'next' of the previous page"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Cases, most recently recorded first, filtered; keyset pagination with ``after``."""
    start = key_of(after) if after is not None else None
    async with pool.acquire() as conn:
        page = await cases.listed(conn, where, start, limit)
    return {"cases": page.cases, "next": cursor(page.next) if page.next else None}


async def exported_cases(
    pool: asyncpg.Pool, where: CaseFilter, most: int, officers: Mapping[str, Officer]
) -> Sheet:
    """Every case of the list, in its order, or 422 ``export_too_large`` if more than ``most``
    match: a list cut short would pass for the whole one."""
    async with pool.acquire() as conn:
        page = await cases.listed(conn, where, None, most)
    if page.next is not None:
        raise ApiError(
            422,
            ErrorCode.EXPORT_TOO_LARGE,
            f"符合条件的案件超过 {most} 宗，请缩小筛选范围（年度、部门、类型…）/ more than {most}"
            " cases match: narrow the filters (year, department, type…) or page through GET /cases",
        )
    return case_sheet(page.cases, officers)


TOO_LARGE = (
    422,
    "A parameter is not valid (invalid_payload, …), or export_too_large: more cases match than"
    " one export holds; narrow the filters",
)


@router.get(
    "/cases.csv",
    response_class=CsvFile,
    responses=exported(CSV_TYPE, "The list as CSV (UTF-8 with BOM)", TOO_LARGE),
)
async def export_cases_csv(
    where: Filter, pool: Pool, officers: Directory, settings: AppSettings
) -> Response:
    """The case list as filtered (the parameters of ``GET /cases``), every page of it, as CSV
    with Chinese headers and labels: for the same readers as the list."""
    sheet = await exported_cases(pool, where, settings.export_max_rows, officers)
    body = await made_aside(csv_bytes, sheet)
    return download(body, CSV_TYPE, f"案件列表-{today()}.csv", f"cases-{today()}.csv")


@router.get(
    "/cases.xlsx",
    response_class=XlsxFile,
    responses=exported(XLSX_TYPE, "The list as an Excel workbook", TOO_LARGE),
)
async def export_cases_xlsx(
    where: Filter, pool: Pool, officers: Directory, settings: AppSettings
) -> Response:
    """The case list as filtered (the parameters of ``GET /cases``), every page of it, as an
    Excel workbook with Chinese headers and labels: for the same readers as the list."""
    sheet = await exported_cases(pool, where, settings.export_max_rows, officers)
    body = await made_aside(xlsx_bytes, [sheet])
    return download(body, XLSX_TYPE, f"案件列表-{today()}.xlsx", f"cases-{today()}.xlsx")


@router.get("/cases/{case_id}", response_model=CaseOut, responses=refused)
async def get_case(who: Caller, pool: Pool, case_id: CaseId) -> Any:
    """One case: type, status, department, version, open deadlines and its light now, and its
    links to other cases (those recorded on it and on them) that the caller may read."""
    async with pool.acquire() as conn:
        case = await visible_case(conn, who, case_id)
        open_deadlines = await deadlines.of_case(conn, case_id)
        linked = await cases.links(conn, case_id, who.departments())
    light = worst(d["light"] for d in open_deadlines)
    return {**case, "deadlines": open_deadlines, "light": light, "links": linked}


REASON_HEADER = "X-CaseTrail-Personal-Data"
"""Set to ``reason-required`` on a history shown masked because the reader gave no reason."""


async def readable_history(
    conn: Connection,
    who: Reader,
    case: Mapping[str, Any],
    keys: KeyStore | None,
    reason: str | None,
) -> tuple[list[dict[str, Any]], HistoryView]:
    """The case's steps as ``who`` may see them: masked, or opened from their sealed form with
    the read recorded in the access log (in one transaction: the read and its record stand or
    fall together); a link's other case masked where ``who`` may not read it. What the history
    and the case file show, both."""
    case_id = case["case_id"]
    async with conn.transaction():
        view = who.view_history(
            case["owner_department"], case["case_type"], await cases.history(conn, case_id), reason
        )
        steps = view.steps
        if view.personal:
            steps = await opened_steps(case_id, steps, keys)
            await access_log.record(conn, who.access_entry(case_id, len(steps), reason))
    linked = [s["payload"].get("other_case_id") for s in steps if s["type"] == LINKED]
    owners = await cases.owners(conn, [c for c in linked if isinstance(c, str)])
    return who.hide_unseen_links(steps, owners), view


def stated(reason: str | None) -> str | None:
    return reason.strip() if reason and reason.strip() else None


Reason = Annotated[
    StorableText | None,
    Query(
        max_length=500,
        description="查阅理由 / Why you read the persons' data: recorded in the access log;"
        " required to see a complainant's identity (they may be a whistle-blower)",
    ),
]


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry], responses=refused)
async def get_history(
    who: Caller,
    pool: Pool,
    keys: Keys,
    response: Response,
    case_id: CaseId,
    reason: Reason = None,
) -> Any:
    """Every step of a case, oldest first: who, when, what, and the hash chain. Personal
    data only for the roles that need it, opened from its sealed form (``〔已删除 / erased〕``
    once erased); each such read is itself recorded with the reason given. A complaint's
    persons are shown masked until a reason is given (header X-CaseTrail-Personal-Data:
    reason-required). A link's other case shows as ``***`` to a reader who may not read it."""
    async with pool.acquire() as conn:
        case = await visible_case(conn, who, case_id)
        steps, view = await readable_history(conn, who, case, keys, stated(reason))
    if view.reason_required:
        response.headers[REASON_HEADER] = "reason-required"
    return steps


def shows_masked(value: Any) -> bool:
    """Something in ``value`` is masked (``***``) for this reader."""
    if isinstance(value, Mapping):
        return any(shows_masked(v) for v in value.values())
    if isinstance(value, list):
        return any(shows_masked(v) for v in value)
    return bool(value == MASK)


NO_FONT = (
    503,
    "database_unavailable: PostgreSQL does not answer; or font_unavailable: no CJK font to"
    " embed (install fonts-wqy-microhei or set CASETRAIL_PDF_FONT_FILE)",
)


@router.get(
    "/cases/{case_id}/file.pdf",
    response_class=PdfFile,
    responses=exported(PDF_TYPE, "The case file (案卷) as PDF", NO_FONT),
)
async def case_file(
    who: Caller,
    pool: Pool,
    keys: Keys,
    officers: Directory,
    settings: AppSettings,
    case_id: CaseId,
    reason: Reason = None,
) -> Response:
    """The case file (案卷) to archive: its summary, every step (who, role, certificate, when
    it happened and when it was recorded, what was done), its documents with their SHA-256,
    its hash chain and the signed checkpoint that covers it (read from Kafka: if it does not
    answer, the file says so). For the readers of its history, masked exactly as the history
    is for them; a read of personal data is recorded in the access log like the history's.
    The chain is checked on the audit-trail rows; only ``casetrail verify`` holds them against
    the log."""
    async with pool.acquire() as conn:
        case = await visible_case(conn, who, case_id)  # the history's refusals, first
        font = font_file(settings.pdf_font_file)
        if font is None:
            raise ApiError(
                503,
                ErrorCode.FONT_UNAVAILABLE,
                "服务器没有可嵌入的中文字体 / no CJK font to embed: install Debian's"
                " fonts-wqy-microhei or set CASETRAIL_PDF_FONT_FILE",
            )
        open_deadlines = await deadlines.of_case(conn, case_id)
        linked = await cases.links(conn, case_id, who.departments())
        steps, view = await readable_history(conn, who, case, keys, stated(reason))
        events = await cases.recorded_events(conn, case_id)
        place = await cases.last_place(conn, case_id)
    vouched = None
    if place is not None and events:
        vouched = await vouching(settings, *place, events[-1].recorded_at)
    file = CaseFile(
        case={**case, "deadlines": open_deadlines, "links": linked},
        steps=steps,
        masked=shows_masked(steps),
        chain_broken=broken_links(events, settings.crypto_suite),
        vouching=vouched,
        officers=officers,
        reader=f"{who.token.name}（{wording.role_of_token(who.token.role.value)}）",
        made_at=made_now(),
    )
    body = await made_aside(render, file, font)
    headers = {REASON_HEADER: "reason-required"} if view.reason_required else {}
    response = download(body, PDF_TYPE, f"案卷-{case_id}.pdf", f"case-file-{case_id}.pdf")
    response.headers.update(headers)
    return response


@router.get("/cases/{case_id}/as-of", responses=refused)
async def case_as_of(
    who: Caller,
    pool: Pool,
    case_id: CaseId,
    at: Annotated[Instant, Query(description="The instant (ISO 8601, with a timezone)")],
    basis: Basis = Basis.RECORDED,
) -> dict[str, Any]:
    """The case as it stood at ``at`` (auditors), replayed from its events in the audit trail
    (which ``casetrail verify`` holds against the log; ``casetrail replay`` reads the log
    itself): as recorded by then, or as things had happened by then (late entries included)."""
    who.require(TokenRole.AUDITOR)
    if at.tzinfo is None:
        raise ApiError(422, ErrorCode.INVALID_INSTANT, "at: give a timezone, e.g. +08:00")
    async with pool.acquire() as conn:
        events = await cases.recorded_events(conn, case_id)
    replayed = replay(events, at, basis)
    if not replayed.events:
        raise unknown_case(case_id)
    state = replayed.state
    return {
        "case_id": case_id,
        "at": at.isoformat(),
        "basis": basis.value,
        "steps_counted": replayed.counted,
        "steps_later": len(replayed.events) - replayed.counted,
        "state": state.model_dump(mode="json") if state else None,
        "lights": {c.rule: c.light(at) for c in state.clocks} if state else {},
    }


@router.get("/cases/{case_id}/chain", responses=refused)
async def case_chain(
    who: Caller, pool: Pool, settings: AppSettings, case_id: CaseId
) -> dict[str, Any]:
    """The case's hash chain recomputed from its audit-trail rows: every hash over its
    event, every prev_hash the hash before. That is all: the hashes have no key, so whoever
    can write the database can rewrite a case with its hashes and keep this ``intact``; only
    ``casetrail verify`` holds the rows against the Kafka log and its signed checkpoints.
    ``checked`` says so in every answer; ``suite`` names the log's cryptographic suite, whose
    hash it recomputed."""
    async with pool.acquire() as conn:
        await visible_case(conn, who, case_id)
        events = await cases.recorded_events(conn, case_id)
    broken = broken_links(events, settings.crypto_suite)
    return {
        "case_id": case_id,
        "events": len(events),
        "suite": settings.crypto_suite.value,
        "intact": not broken,
        "broken": broken,
        "checked": CHAIN_CHECKED,
    }
