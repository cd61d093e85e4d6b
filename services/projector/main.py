"""Composition root of the projector: one runner per projection, each with its own connections.

The projector never exits because PostgreSQL is away: it waits for it at start-up (a warning a
try), and the runners wait out outages while they run (``services.projector.runtime``)."""

import asyncio
import logging

import asyncpg

from projections.catalog import PROJECTIONS
from projections.db import create_pool, nothing_to_reset
from projections.transient import keep_trying
from services.projector.runtime import ProjectionRunner
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


async def run(settings: Settings, stop: asyncio.Event) -> None:
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
        await asyncio.gather(*(runner.run(stop) for runner in runners))
    finally:
        for pool in pools.values():
            await pool.close()
