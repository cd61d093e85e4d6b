"""Composition root of the projector: one runner per projection, each with its own connections,
and ``GET /metrics`` for Prometheus on ``CASETRAIL_PROJECTOR_METRICS_PORT``.

The projector never exits because PostgreSQL is away: it waits for it at start-up (a warning a
try), and the runners wait out outages while they run (``services.projector.runtime``)."""

import asyncio
import contextlib
import logging

import asyncpg

from projections.catalog import PROJECTIONS
from projections.db import create_pool, nothing_to_reset
from projections.transient import describe, keep_trying
from services.adapters import metrics, plain_http
from services.projector.runtime import ProjectionRunner
from services.projector.telemetry import Rebuilds
from services.settings import KafkaRole, Settings

log = logging.getLogger("casetrail.projector")


async def _pools(settings: Settings) -> dict[str, asyncpg.Pool]:
    """A pool per projection. Its connections then always work in the same schema: PostgreSQL
    plans a prepared statement again whenever the search_path differs from the one it was
    planned under, and connections shared between the projections changed it at nearly every
    batch, so each statement was planned anew. A batch is a transaction; the round trip that
    reset the session on every release was one of a batch's eight or so: none."""
    pools: dict[str, asyncpg.Pool] = {}
    try:
        for name in PROJECTIONS:
            pools[name] = await create_pool(
                settings.postgres_dsn, max_size=2, connect_timeout=10, reset=nothing_to_reset
            )
    except BaseException:
        for pool in pools.values():
            await pool.close()
        raise
    return pools


REFRESH_TIMEOUT_S = 2.0
"""How long a scrape waits for the rebuilds' progress (PostgreSQL may be away)."""


class MetricsEndpoint:
    """``GET /metrics``: the projections' metrics, and the progress of the rebuilds under way,
    read when Prometheus asks (once the pools exist)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = metrics.registry(*metrics.PROJECTOR)
        self.rebuilds: Rebuilds | None = None

    async def answer(self) -> plain_http.Answer:
        if self.rebuilds is not None:
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_S):
                    await self.rebuilds.refresh()
            except Exception as error:
                log.debug("metrics: rebuild progress not read: %s", describe(error))
        return 200, metrics.CONTENT_TYPE, metrics.render(self.registry)

    async def serve(self) -> asyncio.Server:
        host, port = self.settings.projector_metrics_host, self.settings.projector_metrics_port
        server = await plain_http.serve(host, port, {"/metrics": self.answer})
        log.info("GET /metrics on %s:%d", host, plain_http.port_of(server))
        return server


async def run(settings: Settings, stop: asyncio.Event) -> None:
    endpoint = MetricsEndpoint(settings)
    server = await endpoint.serve()  # plain_http.CannotListen: the projector does not start
    try:
        await _run(settings, stop, endpoint)
    finally:
        server.close()


async def _run(settings: Settings, stop: asyncio.Event, endpoint: MetricsEndpoint) -> None:
    pools = await keep_trying(lambda: _pools(settings), "connecting to PostgreSQL", log, stop)
    if pools is None:
        return  # stopped before PostgreSQL answered
    try:
        runners = [
            ProjectionRunner(
                projection,
                pools[name],
                kafka=settings.as_kafka_user(KafkaRole.PROJECTOR),
                topic=settings.events_topic,
                group_id=settings.projection_group(projection.name, projection.version),
                batch_size=settings.projector_batch_events,
                batch_ms=settings.projector_batch_ms,
                catch_up_from=settings.projector_catch_up_events,
                fetch_wait_ms=settings.projector_fetch_wait_ms,
                fetch_min_bytes=settings.projector_fetch_min_bytes,
            )
            for name, projection in PROJECTIONS.items()
        ]
        endpoint.rebuilds = Rebuilds(next(iter(pools.values())), settings.events_topic)
        with contextlib.ExitStack() as readings:
            readings.enter_context(metrics.REBUILD_PROGRESS.reading(endpoint.rebuilds.readings))
            for runner in runners:
                readings.enter_context(metrics.PROJECTION_LAG_EVENTS.reading(runner.lag_events))
                readings.enter_context(metrics.PROJECTION_LAG_SECONDS.reading(runner.lag_seconds))
            await asyncio.gather(*(runner.run(stop) for runner in runners))
    finally:
        for pool in pools.values():
            await pool.close()
