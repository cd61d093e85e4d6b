"""Composition root of the projector: one runner per projection, sharing a connection pool.

The projector never exits because PostgreSQL is away: it waits for it at start-up (a warning a
try), and the runners wait out outages while they run (``services.projector.runtime``)."""

import asyncio
import logging

from projections.catalog import PROJECTIONS
from projections.db import create_pool, nothing_to_reset
from projections.transient import keep_trying
from services.projector.runtime import ProjectionRunner
from services.settings import KafkaRole, Settings

log = logging.getLogger("casetrail.projector")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    pool = await keep_trying(
        # A batch is a transaction; the round trip that reset the session on every release
        # was one of a batch's eight or so.
        lambda: create_pool(settings.postgres_dsn, connect_timeout=10, reset=nothing_to_reset),
        "connecting to PostgreSQL",
        log,
        stop,
    )
    if pool is None:
        return  # stopped before PostgreSQL answered
    try:
        runners = [
            ProjectionRunner(
                projection,
                pool,
                kafka=settings.as_kafka_user(KafkaRole.PROJECTOR),
                topic=settings.events_topic,
                group_id=settings.projection_group(projection.name, projection.version),
                batch_size=settings.projector_batch_events,
                batch_ms=settings.projector_batch_ms,
                catch_up_from=settings.projector_catch_up_events,
                fetch_wait_ms=settings.projector_fetch_wait_ms,
                fetch_min_bytes=settings.projector_fetch_min_bytes,
            )
            for projection in PROJECTIONS.values()
        ]
        await asyncio.gather(*(runner.run(stop) for runner in runners))
    finally:
        await pool.close()
