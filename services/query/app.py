"""The query service: supervisors and auditors read the projections over HTTP."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources
from pathlib import Path

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from events.officers import Officer, directory
from projections.catalog import ensure_schema
from projections.db import create_pool
from projections.queries.access_log import ensure_access_log
from projections.transient import is_transient, keep_trying
from services.adapters import metrics
from services.adapters.http import (
    ApiError,
    ErrorBody,
    ErrorCode,
    install_error_handlers,
    instrument,
)
from services.adapters.kafka import unreachable
from services.integrity.keyring import KeyRingError, load_ring
from services.integrity.log_suite import SuiteMismatch, check_log_suite
from services.privacy.cipher import MasterKeyError
from services.privacy.keystore import KeyStore, KeyStoreUnavailable, open_keystore
from services.query.dependencies import Pool
from services.query.routers import ROUTERS
from services.settings import KafkaRole, Settings
from services.tokens import TokenCache

log = logging.getLogger("casetrail.query")

DASHBOARD_HEADERS = {
    # Only this service's own script, style and API: no inline script (an injected one would
    # run with the reader's token), nothing from elsewhere, no framing (clickjacking), no form
    # posting anywhere, no <base> redirecting the relative URLs.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # Links out of the dashboard tell nobody where they came from (a case id in the address).
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
"""Sent with the dashboard's page, script and style."""


async def _decode_jsonb(conn: asyncpg.Connection) -> None:
    # asyncpg gives jsonb as text; the responses carry the documents (actor, payload) as JSON.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _prepare(pool: asyncpg.Pool) -> None:
    """What the endpoints read must exist: a live build of every projection, the access log."""
    await ensure_schema(pool)
    async with pool.acquire() as conn:
        await ensure_access_log(conn)


async def _prepare_when_it_answers(app: FastAPI) -> None:
    try:
        await keep_trying(lambda: _prepare(app.state.pool), "query: preparing the read side", log)
    except Exception:
        log.exception("query: cannot prepare the read side; every request answers 503")
        raise
    app.state.ready = True


def read_directory(path: Path | None) -> dict[str, Officer]:
    """The officer directory, to name officers on the screens. Without one the service still
    answers (the screens show officer ids, marked as unknown), and says why in its log."""
    if path is None:
        log.warning("query: CASETRAIL_OFFICERS_FILE is not set; officers are shown by id")
        return {}
    try:
        return directory(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.error(
            "query: cannot read the officer directory %s (%s); officers shown by id", path, error
        )
        return {}


async def _open_keystore(stack: AsyncExitStack, settings: Settings) -> KeyStore | None:
    """The key store, or None (and the reason in the log): without it the service still
    answers, and shows sealed personal data as masked to every reader."""
    try:
        return await stack.enter_async_context(open_keystore(settings))
    except (MasterKeyError, KeyStoreUnavailable) as error:
        log.error("query: personal data cannot be opened: %s", error)
        return None


async def _same_suite(app: FastAPI, settings: Settings) -> asyncio.Task[None] | None:
    """SuiteMismatch when the log is of another suite than the service's: its badge would check
    every chain with the wrong hash. The service answers from PostgreSQL whether Kafka does or
    not, so a Kafka (or a topic) that is not there yet does not hold its start: it is checked
    again in the background, and a mismatch found then turns ``/health`` to 503 (``suite``).
    Without a key ring nothing on the log can be trusted to say the suite: the service
    starts, and every case file says so."""
    try:
        ring = load_ring(settings.key_ring_path)
    except KeyRingError as error:
        log.error("query: the log's suite not checked, no key ring: %s", error)
        return None
    try:
        await check_log_suite(settings, ring, "the query service")
        return None
    except Exception as error:
        if not unreachable(error):
            raise
        log.warning("query: the log's suite not checked yet (%s); checking it meanwhile", error)

    async def later() -> None:
        try:
            await keep_trying(
                lambda: check_log_suite(settings, ring, "the query service"),
                "query: checking the log's suite",
                log,
                transient=unreachable,
            )
        except SuiteMismatch as error:
            log.error("query: %s", error)
            app.state.suite_mismatch = str(error)

    return asyncio.create_task(later())


def create_app(settings: Settings) -> FastAPI:
    settings = settings.as_kafka_user(KafkaRole.QUERY)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.suite_mismatch = None
        checking = await _same_suite(app, settings)
        # The pool connects lazily: the service starts, and stays up, while PostgreSQL is
        # down; requests that need it get 503 database_unavailable until it answers again.
        app.state.pool = await create_pool(
            settings.postgres_dsn, max_size=8, init=_decode_jsonb, lazy=True, connect_timeout=10
        )
        await app.state.tokens.start(settings.postgres_dsn)
        keys = AsyncExitStack()
        app.state.keystore = await _open_keystore(keys, settings)
        preparing: asyncio.Task[None] | None = None
        try:
            await _prepare(app.state.pool)
            app.state.ready = True
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("query: PostgreSQL does not answer (%s); waiting for it", error)
            preparing = asyncio.create_task(_prepare_when_it_answers(app))
        yield
        for task in (preparing, checking):
            if task is not None:
                task.cancel()
        await app.state.tokens.stop()
        await keys.aclose()
        await app.state.pool.close()

    app = FastAPI(
        title="CaseTrail query",
        description="督查与审计查询 / Supervisors' and auditors' queries over the projections.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ready = False
    app.state.tokens = TokenCache()
    app.state.keystore = None
    app.state.officers = read_directory(settings.officers_file)
    install_error_handlers(app, settings.max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)

    assets = resources.files("services.query")
    pages = {
        name: (assets.joinpath(name).read_text("utf-8"), media_type)
        for name, media_type in (
            ("dashboard.html", "text/html; charset=utf-8"),
            ("dashboard.js", "text/javascript; charset=utf-8"),
            ("dashboard.css", "text/css; charset=utf-8"),
        )
    }

    def page(name: str) -> Response:
        text, media_type = pages[name]
        return Response(text, media_type=media_type, headers=DASHBOARD_HEADERS)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> Response:
        """The dashboard (Chinese first): a page, its script and its style, all served here."""
        return page("dashboard.html")

    @app.get("/dashboard.js", include_in_schema=False)
    async def dashboard_script() -> Response:
        return page("dashboard.js")

    @app.get("/dashboard.css", include_in_schema=False)
    async def dashboard_style() -> Response:
        return page("dashboard.css")

    @app.get(
        "/health",
        responses={503: {"model": ErrorBody, "description": "No database; a log of another suite"}},
    )
    async def health(request: Request, pool: Pool) -> JSONResponse:
        """200 when the service can read PostgreSQL; 503 ``database_unavailable`` otherwise,
        and 503 ``suite_mismatch`` once the log turned out to be of another suite."""
        mismatch = request.app.state.suite_mismatch
        if mismatch is not None:
            raise ApiError(503, ErrorCode.SUITE_MISMATCH, mismatch)
        await pool.fetchval("SELECT 1")
        return JSONResponse({"status": "ok"})

    instrument(app, metrics.registry())
    return app
