"""Cases: the list, one case, its history, the case as of an instant, its hash chain."""

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from events.as_of import Basis, replay
from events.deadlines import worst
from events.model import CaseId
from projections.db import Connection
from projections.queries import access_log, cases, deadlines
from projections.queries.cases import CaseFilter, Key
from projections.read_models.cases import LINKED
from services.adapters.http import ApiError, ErrorCode, Instant, StorableText, Text
from services.integrity.case_chain import broken_links
from services.privacy.sealing import opened_steps
from services.query.access import CASE_READERS, Reader
from services.query.dependencies import Caller, Keys, Pool
from services.query.schemas import CaseOut, CasePage, HistoryEntry, refused
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


@router.get("/cases", response_model=CasePage, responses=refused)
async def list_cases(
    who: Caller,
    pool: Pool,
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
    after: Text | None = Query(None, description="The 'next' of the previous page"),
    limit: int = Query(default=50, ge=1, le=500),
) -> dict[str, Any]:
    """Cases, most recently recorded first, filtered; keyset pagination with ``after``."""
    who.require(*CASE_READERS)
    where = CaseFilter(
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
    start = key_of(after) if after is not None else None
    async with pool.acquire() as conn:
        page = await cases.listed(conn, where, start, limit)
    return {"cases": page.cases, "next": cursor(page.next) if page.next else None}


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


@router.get("/cases/{case_id}/history", response_model=list[HistoryEntry], responses=refused)
async def get_history(
    who: Caller,
    pool: Pool,
    keys: Keys,
    response: Response,
    case_id: CaseId,
    reason: StorableText | None = Query(
        None,
        max_length=500,
        description="查阅理由 / Why you read the persons' data: recorded in the access log;"
        " required to see a complainant's identity (they may be a whistle-blower)",
    ),
) -> Any:
    """Every step of a case, oldest first: who, when, what, and the hash chain. Personal
    data only for the roles that need it, opened from its sealed form (``〔已删除 / erased〕``
    once erased); each such read is itself recorded with the reason given. A complaint's
    persons are shown masked until a reason is given (header X-CaseTrail-Personal-Data:
    reason-required). A link's other case shows as ``***`` to a reader who may not read it."""
    reason = reason.strip() if reason and reason.strip() else None
    async with pool.acquire() as conn:
        case = await visible_case(conn, who, case_id)
        # The read and its record in the access log stand or fall together.
        async with conn.transaction():
            view = who.view_history(
                case["owner_department"],
                case["case_type"],
                await cases.history(conn, case_id),
                reason,
            )
            steps = view.steps
            if view.personal:
                steps = await opened_steps(case_id, steps, keys)
                await access_log.record(conn, who.access_entry(case_id, len(steps), reason))
        linked = [s["payload"].get("other_case_id") for s in steps if s["type"] == LINKED]
        owners = await cases.owners(conn, [c for c in linked if isinstance(c, str)])
    if view.reason_required:
        response.headers[REASON_HEADER] = "reason-required"
    return who.hide_unseen_links(steps, owners)


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
async def case_chain(who: Caller, pool: Pool, case_id: CaseId) -> dict[str, Any]:
    """The case's hash chain recomputed from its audit-trail rows: every hash over its
    event, every prev_hash the hash before. That is all: the hashes have no key, so whoever
    can write the database can rewrite a case with its hashes and keep this ``intact``; only
    ``casetrail verify`` holds the rows against the Kafka log and its signed checkpoints.
    ``checked`` says so in every answer."""
    async with pool.acquire() as conn:
        await visible_case(conn, who, case_id)
        events = await cases.recorded_events(conn, case_id)
    broken = broken_links(events)
    return {
        "case_id": case_id,
        "events": len(events),
        "intact": not broken,
        "broken": broken,
        "checked": CHAIN_CHECKED,
    }
