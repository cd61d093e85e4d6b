"""The query service: supervisors and auditors read the projections over HTTP."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from events.model import CaseId
from projections.catalog import ensure_schema
from services.http import ErrorBody, error_response, install_error_handlers
from services.settings import Settings


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


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            settings.postgres_dsn, min_size=1, max_size=8, init=_init_connection
        )
        await ensure_schema(app.state.pool)
        yield
        await app.state.pool.close()

    app = FastAPI(
        title="CaseTrail query",
        description="督查与审计查询 / Supervisors' and auditors' queries over the projections.",
        lifespan=lifespan,
    )
    install_error_handlers(app, settings.max_body_bytes)
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ErrorBody, "description": "No such case"}
    }

    def pool(request: Request) -> asyncpg.Pool:
        result: asyncpg.Pool = request.app.state.pool
        return result

    @app.get("/cases", response_model=list[CaseSummaryOut])
    async def list_cases(
        request: Request, limit: int = Query(default=50, ge=1, le=500)
    ) -> list[dict[str, Any]]:
        """The most recently changed cases."""
        rows = await pool(request).fetch(
            f"SELECT {SUMMARY_COLUMNS} FROM case_summary"
            " ORDER BY last_recorded_at DESC, case_id LIMIT $1",
            limit,
        )
        return [dict(row) for row in rows]

    @app.get("/cases/{case_id}", response_model=CaseOut, responses=not_found)
    async def get_case(request: Request, case_id: CaseId) -> Any:
        """One case: type, status, department, version, open deadlines and its light now."""
        row = await pool(request).fetchrow(
            f"SELECT {SUMMARY_COLUMNS} FROM case_summary WHERE case_id = $1", case_id
        )
        if row is None:
            return error_response(404, "unknown_case", f"no case {case_id}")
        deadlines = [
            dict(d)
            for d in await pool(request).fetch(
                f"SELECT clock, due_day, due_at, {LIGHT_SQL} AS light FROM deadlines"
                " WHERE case_id = $1 ORDER BY due_at",
                case_id,
            )
        ]
        lights = {d["light"] for d in deadlines}
        worst = next((light for light in ("red", "yellow", "green") if light in lights), None)
        return {**dict(row), "deadlines": deadlines, "light": worst}

    @app.get("/cases/{case_id}/history", response_model=list[HistoryEntry], responses=not_found)
    async def get_history(request: Request, case_id: CaseId) -> Any:
        """Every recorded step of a case, oldest first, with who, when and the hash chain."""
        rows = await pool(request).fetch(
            "SELECT event_id::text, version, type, occurred_at, recorded_at, actor, department,"
            " submission_id::text, payload, prev_hash, hash"
            " FROM audit_trail WHERE case_id = $1 ORDER BY version",
            case_id,
        )
        if not rows:
            return error_response(404, "unknown_case", f"no case {case_id}")
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

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        await pool(request).fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return app
