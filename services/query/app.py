"""The query service: supervisors and auditors read the projections over HTTP."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

import asyncpg
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from projections.catalog import ensure_schema
from projections.db import create_pool
from projections.queries.access_log import ensure_access_log
from services.adapters.http import install_error_handlers
from services.query.dependencies import Pool
from services.query.routers import ROUTERS
from services.settings import Settings
from services.tokens import TokenCache


async def _decode_jsonb(conn: asyncpg.Connection) -> None:
    # asyncpg gives jsonb as text; the responses carry the documents (actor, payload) as JSON.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings.postgres_dsn, max_size=8, init=_decode_jsonb)
        await ensure_schema(app.state.pool)
        async with app.state.pool.acquire() as conn:
            await ensure_access_log(conn)
        await app.state.tokens.start(settings.postgres_dsn)
        yield
        await app.state.tokens.stop()
        await app.state.pool.close()

    app = FastAPI(
        title="CaseTrail query",
        description="督查与审计查询 / Supervisors' and auditors' queries over the projections.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = TokenCache()
    install_error_handlers(app, settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)

    dashboard = resources.files("services.query").joinpath("dashboard.html").read_text("utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        """The dashboard: one self-contained page (Chinese first) that reads this API."""
        return HTMLResponse(dashboard)

    @app.get("/health")
    async def health(pool: Pool) -> JSONResponse:
        await pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    return app
