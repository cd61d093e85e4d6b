"""The projector runtime: consume the log, apply batches, store rows and offsets atomically.

Each projection has its own consumer group and its own PostgreSQL schema per build
(``projections.builds``). Offsets live in the build's ``projection_checkpoint`` table, written in
the same transaction as the rows; Kafka's committed offsets are never used. On every assignment
the runtime seeks to the stored offsets, and a batch is written only if the stored offset is
still the one it started from, so an instance that lost its partition can never write behind
its successor.

An event a projection cannot apply is never skipped: the events before it are applied, the
error is recorded with the event's coordinates in ``projection_errors``, and that partition
stops advancing until someone fixes the cause and restarts the projector.
"""

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from events.model import Event
from projections import builds
from projections.base import Connection, LoggedEvent, Projection

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
        schema = builds.schema_of(self.projection.name, self.build)
        async with self.pool.acquire() as conn:
            # A row for every partition, so that a batch always has a row to lock.
            await conn.executemany(
                f'INSERT INTO "{schema}".projection_checkpoint VALUES ($1, $2, 0)'
                " ON CONFLICT DO NOTHING",
                [(tp.topic, tp.partition) for tp in partitions],
            )
            rows = await conn.fetch(
                f'SELECT partition, next_offset FROM "{schema}".projection_checkpoint'
                " WHERE topic = $1",
                self.topic,
            )
        stored = {row["partition"]: row["next_offset"] for row in rows}
        self.positions = {tp: stored[tp.partition] for tp in partitions}
        for tp, offset in self.positions.items():
            self.consumer.seek(tp, offset)

    # --- applying ------------------------------------------------------------------------

    async def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
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
        except _BuildSwitched:
            await self._seek_to_stored(list(self.positions))
        except Exception as error:
            log.warning("%s: batch at p%d@%d failed (%s): one by one", self.projection.name,
                        tp.partition, start, error)  # fmt: skip
            await self._apply_one_by_one(tp, records)

    async def _apply_one_by_one(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        for record in records:
            try:
                await self._write(tp, self.positions[tp], [record])
            except _BuildSwitched:
                await self._seek_to_stored(list(self.positions))
                return
            except Exception as error:
                await self._record_error(tp, record.offset, error)
                self.stuck.add(tp)
                self.consumer.pause(tp)
                return

    async def _write(
        self, tp: TopicPartition, start: int, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        batch = [
            LoggedEvent(Event.model_validate_json(r.value or b""), r.partition, r.offset)
            for r in records
        ]
        next_offset = records[-1].offset + 1
        async with self.pool.acquire() as conn, conn.transaction():
            live = await builds.live_build(conn, self.projection.name, lock=True)
            if live != self.build:
                log.info("%s: build %s is live now (was %d)", self.projection.name, live,
                         self.build)  # fmt: skip
                self.build = live or 0
                raise _BuildSwitched
            await _use_build(conn, self.projection.name, self.build)
            stored = await conn.fetchval(
                "SELECT next_offset FROM projection_checkpoint WHERE topic = $1"
                " AND partition = $2 FOR UPDATE",
                tp.topic,
                tp.partition,
            )
            if stored != start:
                # Another instance wrote this partition meanwhile: resume from what it stored.
                log.warning("%s p%d: checkpoint %s, batch from %d", self.projection.name,
                            tp.partition, stored, start)  # fmt: skip
                self.positions[tp] = stored
                self.consumer.seek(tp, stored)
                return
            await self.projection.apply(conn, batch)
            await conn.execute(
                "UPDATE projection_checkpoint SET next_offset = $3 WHERE topic = $1"
                " AND partition = $2",
                tp.topic,
                tp.partition,
                next_offset,
            )
        self.positions[tp] = next_offset

    async def _record_error(self, tp: TopicPartition, offset: int, error: Exception) -> None:
        log.error("%s cannot apply the event at %s p%d@%d: %s; the partition stops here",
                  self.projection.name, tp.topic, tp.partition, offset, error)  # fmt: skip
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO projection_errors (projection, build, topic, partition, log_offset,"
                " error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                self.projection.name,
                self.build,
                tp.topic,
                tp.partition,
                offset,
                f"{type(error).__name__}: {error}"[:2000],
            )


class _BuildSwitched(Exception):
    """A rebuild published a new build: carry on there, from its own checkpoints."""


async def _use_build(conn: Connection, projection: str, build: int) -> None:
    await conn.execute(f'SET LOCAL search_path TO "{builds.schema_of(projection, build)}", public')
