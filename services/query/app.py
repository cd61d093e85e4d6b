"""The query service: supervisors and auditors read the projections over HTTP."""

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from importlib import resources
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from events.deadlines import worst
from events.hashing import GENESIS_HASH
from events.model import CaseId, Event
from events.privacy import mask_personal
from projections.catalog import ensure_schema
from projections.statistics import Basis, Dimension
from services import readpath
from services.http import ApiError, ErrorBody, install_error_handlers
from services.query.access import Reader, ensure_access_log, log_personal_data_read
from services.settings import Settings
from services.tokens import TokenCache, TokenRole


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
    due_day: date
    due_at: datetime
    light: str


class CaseOut(CaseSummaryOut):
    deadlines: list[DeadlineOut]
    light: str | None
    """The worst light of its open deadlines (红灯 red, 黄灯 yellow, 绿灯 green); None if none."""


# The light of a deadline row now: a suspended clock keeps the light it had.
LIGHT_SQL = (
    "CASE WHEN paused_light IS NOT NULL THEN paused_light WHEN now() >= due_at THEN 'red'"
    " WHEN now() >= yellow_from THEN 'yellow' ELSE 'green' END"
)


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
    due_day: date
    due_at: datetime
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


class HistoryEntry(BaseModel):
    event_id: str
    version: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: dict[str, Any]
    department: str
    submission_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


SUMMARY_COLUMNS = ", ".join(CaseSummaryOut.model_fields)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _cursor(row: dict[str, Any]) -> str:
    raw = f"{row['last_recorded_at'].isoformat()}|{row['case_id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        moment, case_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(moment), case_id
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "invalid_cursor", "after: not a cursor this service gave") from None


def create_app(settings: Settings) -> FastAPI:
    tokens = TokenCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            settings.postgres_dsn, min_size=1, max_size=8, init=_init_connection
        )
        await ensure_schema(app.state.pool)
        async with app.state.pool.acquire() as conn:
            await ensure_access_log(conn)
        await tokens.start(settings.postgres_dsn)
        yield
        await tokens.stop()
        await app.state.pool.close()

    app = FastAPI(
        title="CaseTrail query",
        description="督查与审计查询 / Supervisors' and auditors' queries over the projections.",
        lifespan=lifespan,
    )
    install_error_handlers(app, settings.max_body_bytes)
    refused: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text}
        for code, text in ((401, "No valid token"), (403, "Not for this token"), (404, "Not found"))
    }

    def pool(request: Request) -> asyncpg.Pool:
        result: asyncpg.Pool = request.app.state.pool
        return result

    bearer = HTTPBearer(auto_error=False, description="A token from `casetrail tokens create`")

    async def reader(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Reader:
        presented = f"Bearer {credentials.credentials}" if credentials else None
        return Reader(await tokens.holder(presented))

    Caller = Annotated[Reader, Depends(reader)]
    readers_of_cases = (TokenRole.DEPARTMENT, TokenRole.SUPERVISOR, TokenRole.AUDITOR)

    @app.get("/cases", response_model=CasePage, responses=refused)
    async def list_cases(
        request: Request,
        who: Caller,
        case_type: str | None = None,
        department: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        light: Literal["red", "yellow", "green"] | None = None,
        officer: str | None = None,
        opened_from: datetime | None = None,
        opened_to: datetime | None = None,
        occurred_from: datetime | None = Query(None, description="Last step happened from"),
        occurred_to: datetime | None = None,
        recorded_from: datetime | None = Query(None, description="Last step recorded from"),
        recorded_to: datetime | None = None,
        after: str | None = Query(None, description="The 'next' of the previous page"),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> dict[str, Any]:
        """Cases, most recently recorded first, filtered; keyset pagination with ``after``."""
        who.require(*readers_of_cases)
        where, args = [], []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            where.append(sql.replace("?", f"${len(args)}"))

        for column, value in (
            ("case_type = ?", case_type),
            ("owner_department = ?", department),
            ("status = ?", status),
            ("channel = ?", channel),
            ("assigned_officer = ?", officer),
            ("opened_at >= ?", opened_from),
            ("opened_at < ?", opened_to),
            ("last_event_at >= ?", occurred_from),
            ("last_event_at < ?", occurred_to),
            ("last_recorded_at >= ?", recorded_from),
            ("last_recorded_at < ?", recorded_to),
        ):
            if value is not None:
                add(column, value)
        scope = who.departments()
        if scope is not None:
            add("owner_department = ANY(?)", scope)
        if light is not None:
            add(f"EXISTS (SELECT 1 FROM deadlines d WHERE d.case_id = s.case_id AND"
                f" {LIGHT_SQL.replace('paused_light', 'd.paused_light')} = ?)", light)  # fmt: skip
        if after is not None:
            moment, case_id = _after(after)
            args += [moment, case_id]
            where.append(f"(last_recorded_at, case_id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit + 1)
        rows = await pool(request).fetch(
            f"SELECT {SUMMARY_COLUMNS} FROM case_summary s"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY last_recorded_at DESC, case_id DESC LIMIT ${len(args)}",
            *args,
        )
        page = [dict(row) for row in rows[:limit]]
        return {"cases": page, "next": _cursor(page[-1]) if len(rows) > limit else None}

    async def visible_case(request: Request, who: Reader, case_id: str) -> dict[str, Any]:
        who.require(*readers_of_cases)
        row = await pool(request).fetchrow(
            f"SELECT {SUMMARY_COLUMNS} FROM case_summary WHERE case_id = $1", case_id
        )
        if row is None:
            raise ApiError(404, "unknown_case", f"no case {case_id}")
        who.check_case(row["owner_department"])
        return dict(row)

    @app.get("/cases/{case_id}", response_model=CaseOut, responses=refused)
    async def get_case(request: Request, who: Caller, case_id: CaseId) -> Any:
        """One case: type, status, department, version, open deadlines and its light now."""
        case = await visible_case(request, who, case_id)
        deadlines = [
            dict(d)
            for d in await pool(request).fetch(
                f"SELECT clock, due_day, due_at, {LIGHT_SQL} AS light FROM deadlines"
                " WHERE case_id = $1 ORDER BY due_at",
                case_id,
            )
        ]
        return {**case, "deadlines": deadlines, "light": worst(d["light"] for d in deadlines)}

    @app.get("/cases/{case_id}/history", response_model=list[HistoryEntry], responses=refused)
    async def get_history(request: Request, who: Caller, case_id: CaseId) -> Any:
        """Every step of a case, oldest first: who, when, what, and the hash chain. Personal
        data only for the roles that need it; each such read is itself recorded."""
        case = await visible_case(request, who, case_id)
        async with pool(request).acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT event_id::text, version, type, occurred_at, recorded_at, actor,"
                " department, submission_id::text, payload, prev_hash, hash"
                " FROM audit_trail WHERE case_id = $1 ORDER BY version",
                case_id,
            )
            steps = [dict(row) for row in rows]
            respondent = steps[0]["payload"].get("respondent") if steps else None
            if who.sees_personal_data(case["owner_department"], respondent):
                if any(mask_personal(s["type"], s["payload"])[1] for s in steps):
                    await log_personal_data_read(conn, who, case_id, len(steps))
            else:
                for step in steps:
                    step["payload"] = mask_personal(step["type"], step["payload"])[0]
        return steps

    @app.get("/cases/{case_id}/as-of", responses=refused)
    async def case_as_of(
        request: Request,
        who: Caller,
        case_id: CaseId,
        at: Annotated[datetime, Query(description="The instant (ISO 8601, with a timezone)")],
        basis: Basis = Basis.RECORDED,
    ) -> dict[str, Any]:
        """The case as it stood at ``at`` (auditors), replayed from the log itself: as recorded
        by then, or as things had happened by then (late entries included)."""
        who.require(TokenRole.AUDITOR)
        if at.tzinfo is None:
            raise ApiError(422, "invalid_instant", "at: give a timezone, e.g. +08:00")
        replayed = readpath.replay_case(await readpath.case_events(settings, case_id), at, basis)
        if not replayed.events:
            raise ApiError(404, "unknown_case", f"no case {case_id} on the log")
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

    @app.get("/cases/{case_id}/chain", responses=refused)
    async def case_chain(request: Request, who: Caller, case_id: CaseId) -> dict[str, Any]:
        """The case's hash chain recomputed from its audit-trail rows: every hash over its
        event, every prev_hash the hash before. (``casetrail verify`` also checks the log.)"""
        await visible_case(request, who, case_id)
        rows = await pool(request).fetch(
            "SELECT * FROM audit_trail WHERE case_id = $1 ORDER BY version", case_id
        )
        previous, broken = GENESIS_HASH, []
        for row in rows:
            fields = {
                k: v for k, v in dict(row).items() if k not in ("log_partition", "log_offset")
            }
            event = Event.model_validate(fields)
            if event.computed_hash() != event.hash or event.prev_hash != previous:
                broken.append(event.version)
            previous = event.hash
        return {"case_id": case_id, "events": len(rows), "intact": not broken, "broken": broken}

    @app.get("/deadlines", response_model=list[DeadlineRow], responses=refused)
    async def red_and_yellow(
        request: Request,
        who: Caller,
        light: Literal["red", "yellow"] = "red",
        department: str | None = None,
        limit: int = Query(default=200, ge=1, le=2000),
    ) -> list[dict[str, Any]]:
        """红灯/黄灯: open deadlines breached (red) or near (yellow), most urgent first."""
        who.require(*readers_of_cases)
        scope = who.departments()
        rows = await pool(request).fetch(
            f"SELECT case_id, case_type, clock, owner_department, assigned_officer, due_day,"
            f" due_at, {LIGHT_SQL} AS light FROM deadlines WHERE {LIGHT_SQL} = $1"
            " AND ($2::text IS NULL OR owner_department = $2)"
            " AND ($3::text[] IS NULL OR owner_department = ANY($3))"
            " ORDER BY due_at, case_id LIMIT $4",
            light,
            department,
            scope,
            limit,
        )
        return [dict(row) for row in rows]

    @app.get("/officers/{officer_id}/activity", response_model=list[ActivityRow], responses=refused)
    async def officer_activity(
        request: Request,
        who: Caller,
        officer_id: str,
        limit: int = Query(default=200, ge=1, le=2000),
    ) -> list[dict[str, Any]]:
        """Every action of one officer, oldest first (倒查)."""
        who.require(TokenRole.AUDITOR, TokenRole.SUPERVISOR)
        rows = await pool(request).fetch(
            "SELECT officer_id, occurred_at, recorded_at, event_id::text, case_id, case_type,"
            " version, type, role, department, certificate FROM officer_activity"
            " WHERE officer_id = $1 ORDER BY occurred_at, event_id LIMIT $2",
            officer_id,
            limit,
        )
        return [dict(row) for row in rows]

    @app.get("/statistics", responses=refused)
    async def statistics(
        request: Request,
        who: Caller,
        year: int = Query(default=2020, ge=1990, le=2199),
        by: str = Query(default="case_type", description="case_type,department,channel,…"),
        as_of: datetime | None = Query(None, description="Figures as of then (auditors)"),
        basis: Basis = Basis.RECORDED,
    ) -> dict[str, Any]:
        """The supervisors' figures for a year with 同比: open to every role, public too; as
        of a past instant (folded from the log) for auditors."""
        if as_of is not None:
            who.require(TokenRole.AUDITOR)
        try:
            dimensions = [Dimension(d.strip()) for d in by.split(",") if d.strip()]
        except ValueError:
            raise ApiError(422, "invalid_dimension", f"by: one of {list(Dimension)}") from None
        async with pool(request).acquire() as conn:
            return await readpath.statistics(settings, conn, year, dimensions, as_of, basis)

    @app.get("/access-log", responses=refused)
    async def access_log(
        request: Request, who: Caller, case_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Who read whose personal data, and when (auditors only)."""
        who.require(TokenRole.AUDITOR)
        rows = await pool(request).fetch(
            "SELECT at, token_id, role, reader, case_id, events FROM personal_data_reads"
            " WHERE $1::text IS NULL OR case_id = $1 ORDER BY at DESC LIMIT 500",
            case_id,
        )
        return [dict(row) for row in rows]

    @app.get("/health/projections")
    async def projections_health(request: Request) -> JSONResponse:
        """Each projection's live build and the events it could not apply (503 if any)."""
        async with pool(request).acquire() as conn:
            rows = await conn.fetch(
                "SELECT b.projection, b.build, count(e.log_offset) AS errors,"
                " min(e.error) AS first_error FROM projection_builds b"
                " LEFT JOIN projection_errors e USING (projection, build)"
                " WHERE b.state = 'live' GROUP BY 1, 2 ORDER BY 1"
            )
        report = [dict(row) for row in rows]
        healthy = all(row["errors"] == 0 for row in report)
        return JSONResponse(
            {"healthy": healthy, "projections": report}, status_code=200 if healthy else 503
        )

    dashboard = resources.files("services.query").joinpath("dashboard.html").read_text("utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        """The dashboard: one self-contained page (Chinese first) that reads this API."""
        return HTMLResponse(dashboard)

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        await pool(request).fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return app
