"""The projector runtime: consume the log, apply batches, store rows and offsets atomically.

Each projection has its own consumer group and its own PostgreSQL schema per build
(``projections.builds``). Offsets live in the build's ``projection_checkpoint`` table, written in
the same transaction as the rows (``projections.apply``); Kafka's committed offsets are never
used. On every assignment the runtime seeks to the stored offsets, and a batch is written only if
the stored offset is still the one it started from, so an instance that lost its partition can
never write behind its successor.

An event a projection cannot apply is never skipped: the events before it are applied, the
error is recorded with the event's coordinates in ``projection_errors``, and that partition
stops advancing until someone fixes the cause and restarts the projector.
"""

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from projections import apply, builds
from projections.apply import BuildSwitched
from projections.projection import LoggedEvent, Projection
from services.adapters.kafka import Record

log = logging.getLogger("casetrail.projector")


class ProjectionRunner(ConsumerRebalanceListener):
    def __init__(
        self,
        projection: Projection,
        pool: asyncpg.Pool,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        batch_size: int = 1000,
        batch_ms: int = 200,
    ):
        self.projection = projection
        self.pool = pool
        self.topic = topic
        self.batch_size = batch_size
        self.batch_ms = batch_ms
        self.build = 0
        self.positions: dict[TopicPartition, int] = {}
        self.stuck: set[TopicPartition] = set()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )

    async def run(self, stop: asyncio.Event) -> None:
        self.build = await builds.ensure_live(self.pool, self.projection)
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()
        log.info("projection %s build %d started", self.projection.name, self.build)
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(
                    timeout_ms=self.batch_ms, max_records=self.batch_size
                )
                for tp, records in batches.items():
                    await self._apply(tp, records)
        finally:
            await self.consumer.stop()

    # --- where to read from ------------------------------------------------------------

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._seek_to_stored(list(assigned))

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            self.positions.pop(tp, None)

    async def _seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        async with self.pool.acquire() as conn:
            stored = await apply.stored_offsets(
                conn,
                self.projection.name,
                self.build,
                self.topic,
                [tp.partition for tp in partitions],
            )
        self.positions = {tp: stored[tp.partition] for tp in partitions}
        for tp, offset in self.positions.items():
            self.consumer.seek(tp, offset)

    # --- applying ------------------------------------------------------------------------

    async def _apply(self, tp: TopicPartition, records: list[Record]) -> None:
        start = self.positions.get(tp)
        if start is None or tp in self.stuck:
            # Fetched while the rebalance listener was still seeking to the stored offsets:
            # fetch again from there once it has (or leave them to the partition's new owner).
            if start is None and tp in self.consumer.assignment():
                self.consumer.seek(tp, records[0].offset)
            return
        records = [r for r in records if r.offset >= start]  # fetched before our seek
        if not records:
            return
        try:
            await self._write(tp, start, records)
        except BuildSwitched as switched:
            await self._switch(switched)
        except Exception as error:
            log.warning(
                "%s: batch at p%d@%d failed (%s): one by one",
                self.projection.name,
                tp.partition,
                start,
                error,
            )
            await self._apply_one_by_one(tp, records)

    async def _apply_one_by_one(self, tp: TopicPartition, records: list[Record]) -> None:
        for record in records:
            try:
                if not await self._write(tp, self.positions[tp], [record]):
                    return  # another instance moved on: carry on from its checkpoint
            except BuildSwitched as switched:
                await self._switch(switched)
                return
            except Exception as error:
                await self._record_error(tp, record.offset, error)
                self.stuck.add(tp)
                self.consumer.pause(tp)
                return

    async def _write(self, tp: TopicPartition, start: int, records: list[Record]) -> bool:
        """Write a batch from ``start``; False if another instance had already moved the
        partition's checkpoint (then the consumer is moved to where that instance stopped)."""
        batch = [LoggedEvent.parse(r.value, r.partition, r.offset) for r in records]
        async with self.pool.acquire() as conn:
            stored = await apply.write_live(
                conn, self.projection, self.build, tp.topic, start, batch
            )
        if stored != batch[-1].offset + 1:
            # Another instance wrote this partition meanwhile: resume from what it stored.
            log.warning(
                "%s p%d: checkpoint %s, batch from %d",
                self.projection.name,
                tp.partition,
                stored,
                start,
            )
            self.consumer.seek(tp, stored)
        self.positions[tp] = stored
        return stored == batch[-1].offset + 1

    async def _switch(self, switched: BuildSwitched) -> None:
        """A rebuild published a new build: carry on there, from its own checkpoints."""
        log.info(
            "%s: build %s is live now (was %d)", self.projection.name, switched.live, self.build
        )
        self.build = switched.live or 0
        await self._seek_to_stored(list(self.positions))

    async def _record_error(self, tp: TopicPartition, offset: int, error: Exception) -> None:
        log.error(
            "%s cannot apply the event at %s p%d@%d: %s; the partition stops here",
            self.projection.name,
            tp.topic,
            tp.partition,
            offset,
            error,
        )
        async with self.pool.acquire() as conn:
            await apply.record_error(
                conn, self.projection.name, self.build, tp.topic, tp.partition, offset, error
            )
