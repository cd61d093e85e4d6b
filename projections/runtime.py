"""The projector runtime: consume the log, apply batches, store rows and offsets atomically.

Each projection has its own consumer group. Offsets live in PostgreSQL, in the table
``projection_checkpoint``, written in the same transaction as the projection's rows; Kafka's own
committed offsets are never used. On every assignment the runtime seeks to the stored offsets.
A batch is applied only if the stored offset is still the one this instance started the batch
from, so an instance that lost its partition to another can never write behind it.
"""

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from events.model import Event
from projections.base import LoggedEvent, Projection, create_tables

log = logging.getLogger("casetrail.projector")

CHECKPOINT_DDL = """
CREATE TABLE IF NOT EXISTS projection_checkpoint (
    projection  text NOT NULL,
    version     integer NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (projection, version, topic, partition)
);
"""


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
        self.positions: dict[TopicPartition, int] = {}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )

    async def run(self, stop: asyncio.Event) -> None:
        async with self.pool.acquire() as conn:
            await create_tables(conn, CHECKPOINT_DDL + self.projection.ddl)
        self.consumer.subscribe([self.topic], listener=self)
        await self.consumer.start()
        log.info("projection %s v%d started", self.projection.name, self.projection.version)
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(
                    timeout_ms=self.batch_ms, max_records=self.batch_size
                )
                for tp, records in batches.items():
                    await self._apply(tp, records)
        finally:
            await self.consumer.stop()

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        # A row for every partition, so that the batch check below always has a row to lock.
        await self.pool.executemany(
            "INSERT INTO projection_checkpoint VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING",
            [
                (self.projection.name, self.projection.version, tp.topic, tp.partition)
                for tp in assigned
            ],
        )
        stored = await self._stored_offsets()
        self.positions = {tp: stored.get(tp.partition, 0) for tp in assigned}
        for tp, offset in self.positions.items():
            self.consumer.seek(tp, offset)

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        for tp in revoked:
            self.positions.pop(tp, None)

    async def _stored_offsets(self) -> dict[int, int]:
        rows = await self.pool.fetch(
            "SELECT partition, next_offset FROM projection_checkpoint"
            " WHERE projection = $1 AND version = $2 AND topic = $3",
            self.projection.name,
            self.projection.version,
            self.topic,
        )
        return {row["partition"]: row["next_offset"] for row in rows}

    async def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        start = self.positions.get(tp)
        if start is None:
            # Fetched while the rebalance listener was still seeking to the stored offsets:
            # fetch again from there once it has (or leave them to the partition's new owner).
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, records[0].offset)
            return
        records = [r for r in records if r.offset >= start]  # fetched before our seek
        if not records:
            return
        batch = [
            LoggedEvent(Event.model_validate_json(r.value or b""), r.partition, r.offset)
            for r in records
        ]
        next_offset = records[-1].offset + 1
        name, version = self.projection.name, self.projection.version
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await conn.fetchval(
                "SELECT next_offset FROM projection_checkpoint WHERE projection = $1"
                " AND version = $2 AND topic = $3 AND partition = $4 FOR UPDATE",
                name,
                version,
                tp.topic,
                tp.partition,
            )
            if stored != start:
                # Another instance wrote this partition meanwhile: resume from what it stored.
                log.warning(
                    "%s p%d: checkpoint %s, batch from %d", name, tp.partition, stored, start
                )
                self.positions[tp] = stored
                self.consumer.seek(tp, stored)
                return
            await self.projection.apply(conn, batch)
            await conn.execute(
                "UPDATE projection_checkpoint SET next_offset = $5 WHERE projection = $1"
                " AND version = $2 AND topic = $3 AND partition = $4",
                name,
                version,
                tp.topic,
                tp.partition,
                next_offset,
            )
        self.positions[tp] = next_offset
