"""Loading a build in bulk: a rebuild from offset 0, and the live projector's catch-up after
downtime, run this one path.

The partitions are shared out among worker processes (at most one per core: the work is Python
decoding and folding, which tasks of one process cannot run side by side). Each worker reads its
partitions from their stored offsets up to given end offsets and writes each fetch, every
partition in it, in one transaction: the rows (``Projection.apply``, COPY) and the partitions'
checkpoints. So an interrupted load leaves every partition exactly at a batch boundary, and the
next load (or the live projector) resumes from there.

Every transaction first checks that each partition's stored checkpoint is still where this
worker left it (``FOR UPDATE``), and, writing the live build, that it is still live (``FOR
SHARE``, as the live projector does): a load never writes behind another writer.
"""

import asyncio
import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from projections import apply, builds
from projections.apply import BuildSwitched
from projections.catalog import PROJECTIONS
from projections.db import Connection, connect
from projections.projection import LoggedEvent
from services.adapters.kafka import Record, committed_consumer, read_until
from services.adapters.worker_processes import in_processes
from services.progress import Progress
from services.settings import Settings

IN_PROCESS_BELOW = 50_000
"""A backlog smaller than this is loaded in this process: starting worker processes (a fresh
interpreter each, importing CaseTrail) costs more than they would save."""

BATCH_EVENTS = 20_000
"""Events per fetch, and so at most per transaction: large enough that a transaction's fixed
costs (checkpoint rows, the staging tables, the commit's flush) spread thin."""


class Moved(RuntimeError):
    """Another writer moved a partition's checkpoint while this load ran: it stops."""


@dataclass(frozen=True)
class Job:
    """What one worker loads: its partitions of ``topic`` up to their end offsets, into
    ``build`` of ``projection`` (which must still be live when ``live``)."""

    settings: Settings
    projection: str
    build: int
    topic: str
    ends: dict[int, int]
    live: bool = False
    batch_events: int = BATCH_EVENTS


def workers_for(backlog: int, partitions: int, processes_from: int | None = None) -> int:
    """How many processes to load ``backlog`` events of ``partitions`` partitions with."""
    if backlog < (IN_PROCESS_BELOW if processes_from is None else processes_from):
        return 1
    return max(1, min(partitions, os.cpu_count() or 1))


def share(ends: dict[int, int], workers: int) -> list[dict[int, int]]:
    """The partitions dealt round-robin among ``workers`` (partitions of similar size keep the
    workers equally busy)."""
    shares: list[dict[int, int]] = [{} for _ in range(workers)]
    for index, partition in enumerate(sorted(ends)):
        shares[index % workers][partition] = ends[partition]
    return [s for s in shares if s]


async def load(
    settings: Settings,
    projection: str,
    build: int,
    ends: dict[int, int],
    *,
    live: bool = False,
    progress: Progress | None = None,
    batch_events: int = BATCH_EVENTS,
    processes_from: int | None = None,
) -> int:
    """Load ``build`` from its stored checkpoints up to ``ends`` (per partition of the events
    topic), in worker processes if the backlog is ``processes_from`` (by default
    ``IN_PROCESS_BELOW``) events or more; returns
    how many events were applied. Raises what a worker raised (BuildSwitched, Moved, or the
    error of an event the projection cannot apply)."""
    topic = settings.events_topic
    async with connect(settings.postgres_dsn) as conn:
        stored = await apply.stored_offsets(conn, projection, build, topic, ends)
    backlog = sum(max(0, end - stored.get(p, 0)) for p, end in ends.items())
    if progress is not None:
        progress.total = max(backlog, 1)
    if backlog == 0:
        return 0
    wanted = {p: end for p, end in ends.items() if end > stored.get(p, 0)}
    jobs = [
        Job(settings, projection, build, topic, part, live, batch_events)
        for part in share(wanted, workers_for(backlog, len(wanted), processes_from))
    ]
    if len(jobs) == 1:
        return await load_partitions(jobs[0], progress=progress)
    watcher = asyncio.create_task(_watch(settings, projection, build, stored, progress))
    try:
        # A worker killed mid-batch leaves nothing behind: PostgreSQL rolls its transaction back.
        done = await in_processes(load_partitions, jobs, "a loading process")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if progress is not None:
        progress.set(sum(done))
    return sum(done)


async def _watch(
    settings: Settings,
    projection: str,
    build: int,
    start: dict[int, int],
    progress: Progress | None,
) -> None:
    """Report the workers' progress from the checkpoints they commit."""
    if progress is None:
        return
    schema = builds.schema_of(projection, build)
    async with connect(settings.postgres_dsn) as conn:
        while True:
            await asyncio.sleep(1)
            rows = await conn.fetch(
                f'SELECT partition, next_offset FROM "{schema}".projection_checkpoint'
                " WHERE topic = $1",
                settings.events_topic,
            )
            progress.set(sum(max(0, r["next_offset"] - start.get(r["partition"], 0)) for r in rows))


async def load_partitions(
    job: Job, conn: Connection | None = None, progress: Progress | None = None
) -> int:
    """Load the job's partitions: on ``conn`` (inside the caller's transaction, each batch a
    savepoint) or on a connection of its own."""
    if conn is not None:
        return await _Loader(job, conn, progress).run()
    async with connect(job.settings.postgres_dsn) as own:
        return await _Loader(job, own, progress).run()


class _Loader:
    def __init__(self, job: Job, conn: Connection, progress: Progress | None):
        self.job, self.conn, self.progress = job, conn, progress
        self.projection = PROJECTIONS[job.projection]
        self.memo: dict[str, Any] = {}
        """What the projection remembers between batches (``Projection.apply``): valid as long
        as every batch it saw committed, and this load is the partitions' only writer."""

    async def run(self) -> int:
        job = self.job
        schema = builds.schema_of(job.projection, job.build)
        rows = await self.conn.fetch(
            f'SELECT partition, next_offset FROM "{schema}".projection_checkpoint'
            " WHERE topic = $1 AND partition = ANY($2::integer[])",
            job.topic,
            list(job.ends),
        )
        self.positions = {r["partition"]: r["next_offset"] for r in rows}
        ends = {
            TopicPartition(job.topic, p): end
            for p, end in job.ends.items()
            if end > self.positions.get(p, 0)
        }
        if not ends:
            return 0
        applied = 0
        big_fetches = {"max_partition_fetch_bytes": 16 * 1024 * 1024}
        async with committed_consumer(job.settings, **big_fetches) as consumer:
            consumer.assign(list(ends))
            for tp in ends:
                consumer.seek(tp, self.positions.get(tp.partition, 0))
            async for fetched in read_until(consumer, ends, max_records=job.batch_events):
                if fetched:
                    applied += await self._write(fetched)
                    if self.progress is not None:
                        self.progress.add(sum(len(r) for r in fetched.values()))
        return applied

    async def _write(self, fetched: dict[TopicPartition, list[Record]]) -> int:
        """Every fetched partition's events and checkpoint, in one transaction."""
        batches = {
            tp.partition: [LoggedEvent.parse(r.value, r.partition, r.offset) for r in records]
            for tp, records in fetched.items()
        }
        job, conn = self.job, self.conn
        async with conn.transaction():
            # FOR SHARE on the live build: no rebuild can switch while this batch is written.
            if job.live and await builds.live_build(conn, job.projection, lock=True) != job.build:
                raise BuildSwitched(await builds.live_build(conn, job.projection))
            await builds.use_build(conn, job.projection, job.build)
            await self._check_positions(conn, batches)
            events = [logged for batch in batches.values() for logged in batch]
            await self.projection.apply(conn, events, self.memo)
            await conn.executemany(
                "UPDATE projection_checkpoint SET next_offset = $3"
                " WHERE topic = $1 AND partition = $2",
                [(job.topic, p, batch[-1].offset + 1) for p, batch in batches.items()],
            )
            if job.live:  # as the live projector's own writes do
                for p, batch in batches.items():
                    await apply.clear_reports(
                        conn, job.projection, job.build, job.topic, p, batch[-1].offset + 1
                    )
        for partition, batch in batches.items():
            self.positions[partition] = batch[-1].offset + 1
        return len(events)

    async def _check_positions(self, conn: Connection, partitions: Iterable[int]) -> None:
        numbers = list(partitions)
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM projection_checkpoint"
            " WHERE topic = $1 AND partition = ANY($2::integer[]) FOR UPDATE",
            self.job.topic,
            numbers,
        )
        stored = {r["partition"]: r["next_offset"] for r in rows}
        for partition in numbers:
            if stored.get(partition) != self.positions.get(partition, 0):
                self.memo.clear()
                raise Moved(
                    f"{self.job.projection} p{partition}: checkpoint {stored.get(partition)},"
                    f" this load is at {self.positions.get(partition, 0)}"
                )
