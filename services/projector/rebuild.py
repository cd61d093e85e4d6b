"""Rebuild a projection without downtime (``casetrail rebuild``).

The next build is filled from offset 0 beside the live one by the bulk loader
(``services.projector.bulk``: worker processes per partition, COPY, indexes after loading),
catches up with the log, and is published by switching the readers' views in one transaction
while the live projector waits on the builds row lock; the projector then carries on in the new
build and the old one is dropped.

A rebuild that is interrupted (killed, PostgreSQL or Kafka gone) leaves its build with rows and
checkpoints that match, batch for batch: the next ``casetrail rebuild`` of the same projection
resumes that build from its checkpoints instead of starting again from offset 0.
"""

from aiokafka import TopicPartition

from projections import builds
from projections.catalog import PROJECTIONS
from projections.db import create_pool
from services.adapters.kafka import committed_consumer, event_partitions
from services.progress import Progress, Say
from services.projector import bulk
from services.settings import KafkaRole, Settings


class RebuildError(RuntimeError):
    """The rebuild could not start; the message says why."""


async def rebuild(
    settings: Settings, name: str, say: Say, batch_size: int = bulk.BATCH_EVENTS
) -> int:
    """Build the next build of ``name`` from offset 0 beside the live one (or resume the one an
    interrupted rebuild left), catch up to the live head, switch readers atomically, drop the
    old build. Returns the new build number."""
    settings = settings.as_kafka_user(KafkaRole.PROJECTOR)  # unless a user is configured
    projection = PROJECTIONS.get(name)
    if projection is None:
        raise RebuildError(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}")
    pool = await create_pool(settings.postgres_dsn, max_size=3)
    lock = await pool.acquire()
    try:
        if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext('rebuild:' || $1))", name):
            raise RebuildError(f"a rebuild of {name} is already running")
        await builds.ensure_live(pool, projection)
        async with pool.acquire() as conn:
            build = await builds.unfinished_build(conn, projection)
            if build is None:
                build = await builds.new_build(conn, projection, with_indexes=False)
                say(f"{name}: building build {build} from offset 0 beside the live build")
            else:
                say(f"{name}: resuming build {build} where an interrupted rebuild left it")
        partitions = await event_partitions(settings)
        ends = await _ends(settings, partitions)
        progress = Progress(sum(ends.values()), say)
        await bulk.load(settings, name, build, ends, progress=progress, batch_events=batch_size)
        say(f"{name}: loaded; building indexes")
        async with pool.acquire() as conn, conn.transaction():
            await builds.use_build(conn, name, build)
            await conn.execute(projection.indexes)
        # Catch up with what arrived meanwhile; then, holding the lock that makes the live
        # projector wait, apply the last few events and switch, in one transaction.
        await bulk.load(settings, name, build, await _ends(settings, partitions))
        async with pool.acquire() as conn, conn.transaction():
            await builds.live_build(conn, name, lock=True, exclusive=True)
            last = await _ends(settings, partitions)
            job = bulk.Job(settings, name, build, settings.events_topic, last)
            await bulk.load_partitions(job, conn)
            previous = await builds.publish(conn, projection, build)
        if previous is not None:
            async with pool.acquire() as conn:
                await builds.drop_build(conn, name, previous)
        say(f"{name}: build {build} is live" + (f"; build {previous} dropped" if previous else ""))
        return build
    finally:
        await lock.execute("SELECT pg_advisory_unlock(hashtext('rebuild:' || $1))", name)
        await pool.release(lock)
        await pool.close()


async def _ends(settings: Settings, partitions: list[TopicPartition]) -> dict[int, int]:
    """Where a read_committed reader of each partition ends now (the last stable offsets)."""
    async with committed_consumer(settings) as consumer:
        ends = await consumer.end_offsets(partitions)
    return {tp.partition: end for tp, end in ends.items()}
