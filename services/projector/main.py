"""Composition root of the projector: one runner per projection, sharing a connection pool."""

import asyncio

from projections.catalog import PROJECTIONS
from projections.db import create_pool
from services.projector.runtime import ProjectionRunner
from services.settings import Settings


async def run(settings: Settings, stop: asyncio.Event) -> None:
    pool = await create_pool(settings.postgres_dsn)
    try:
        runners = [
            ProjectionRunner(
                projection,
                pool,
                bootstrap=settings.kafka_bootstrap,
                topic=settings.events_topic,
                group_id=settings.projection_group(projection.name, projection.version),
                batch_size=settings.projector_batch_events,
                batch_ms=settings.projector_batch_ms,
            )
            for projection in PROJECTIONS.values()
        ]
        await asyncio.gather(*(runner.run(stop) for runner in runners))
    finally:
        await pool.close()
