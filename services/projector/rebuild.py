"""Rebuild a projection without downtime (``casetrail rebuild``).

The next build is filled from offset 0 beside the live one (COPY, indexes after loading), catches
up with the log, and is published by switching the readers' views in one transaction while the
live projector waits on the builds row lock; the projector then carries on in the new build and
the old one is dropped. Events reach the new build through the live projector's own write path
(``projections.apply.write_batch``).
"""

from aiokafka import AIOKafkaConsumer, TopicPartition

from projections import builds
from projections.apply import write_batch
from projections.catalog import PROJECTIONS
from projections.db import Connection, create_pool
from projections.projection import LoggedEvent, Projection
from services.adapters.kafka import Record, committed_consumer, event_partitions, read_until
from services.progress import Progress, Say
from services.settings import KafkaRole, Settings


class RebuildError(RuntimeError):
    """The rebuild could not start; the message says why."""


async def rebuild(settings: Settings, name: str, say: Say, batch_size: int = 5000) -> int:
    """Build the next build of ``name`` from offset 0 beside the live one, catch up to the live
    head, switch readers atomically, drop the old build. Returns the new build number."""
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
            build = await builds.new_build(conn, projection, with_indexes=False)
        say(f"{name}: building build {build} from offset 0 beside the live build")
        partitions = await event_partitions(settings)
        big_fetches = {"max_partition_fetch_bytes": 8 * 1024 * 1024}
        async with committed_consumer(settings, **big_fetches) as consumer:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            catch_up = _CatchUp(consumer, projection, build, Progress(sum(ends.values()), say))
            async with pool.acquire() as conn:
                await catch_up.to(ends, conn, batch_size)
                say(f"{name}: loaded; building indexes")
                async with conn.transaction():
                    await builds.use_build(conn, name, build)
                    await conn.execute(projection.indexes)
                # Catch up with what arrived meanwhile; then, holding the lock that makes the
                # live projector wait, apply the last few events and switch, in one transaction.
                await catch_up.to(await consumer.end_offsets(partitions), conn, batch_size)
                async with conn.transaction():
                    await builds.live_build(conn, name, lock=True, exclusive=True)
                    await catch_up.to(await consumer.end_offsets(partitions), conn, batch_size)
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


class _CatchUp:
    """Reads the log from where it last stopped and applies it to the new build."""

    def __init__(
        self, consumer: AIOKafkaConsumer, projection: Projection, build: int, progress: Progress
    ):
        self.consumer, self.projection, self.build = consumer, projection, build
        self.progress = progress

    async def to(self, ends: dict[TopicPartition, int], conn: Connection, batch_size: int) -> None:
        async for fetched in read_until(self.consumer, ends, max_records=batch_size):
            self.progress.add(await self._apply(conn, fetched))

    async def _apply(self, conn: Connection, fetched: dict[TopicPartition, list[Record]]) -> int:
        """Apply fetched records and move their checkpoints, in one transaction (a savepoint
        when the caller has one open)."""
        async with conn.transaction():
            await builds.use_build(conn, self.projection.name, self.build)
            for tp, records in fetched.items():
                batch = [LoggedEvent.parse(r.value, r.partition, r.offset) for r in records]
                await write_batch(conn, self.projection, tp.topic, tp.partition, batch)
        return sum(len(records) for records in fetched.values())
