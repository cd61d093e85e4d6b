"""The auditor's and operator's tools on the read path: lag, rebuild, replay, statistics as of.

Each reads the log itself where it must (replay, as-of) and writes only to a build that is not
yet live (rebuild), so none of them can disturb what supervisors are reading.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from events.calendar import CHINA
from events.decide import evolve
from events.state import CaseState
from events.model import Event
from projections import builds
from projections.base import Connection, LoggedEvent, Projection
from projections.catalog import PROJECTIONS
from projections.statistics import (
    Basis,
    Dimension,
    Period,
    facts_as_of,
    figures,
    happened_by,
    load_facts_as_of,
    year_over_year,
)
from services.kafka import check_copartitioned, read_to_end
from services.settings import Settings

Say = Callable[[str], None]


class ReadPathError(RuntimeError):
    """A tool could not do what was asked; the message says why."""


async def _end_offsets(
    settings: Settings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


async def _event_partitions(settings: Settings) -> list[TopicPartition]:
    count = await check_copartitioned(settings)
    return [TopicPartition(settings.events_topic, p) for p in range(count)]


# --- lag -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lag:
    projection: str
    build: int | None
    behind: dict[int, int]
    errors: list[dict[str, Any]]

    @property
    def healthy(self) -> bool:
        return self.build is not None and not self.errors


async def _behind(
    settings: Settings, stored: dict[int, int], ends: dict[TopicPartition, int]
) -> dict[int, int]:
    """Events after each stored offset. Transaction markers take offsets too, so a projection
    that has applied every event may still be a few offsets short of the end: look whether any
    event is really there, and if so count the offsets (an upper bound)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    behind = {tp.partition: 0 for tp in ends}
    try:
        open_ = {tp: stored.get(tp.partition, 0) for tp, end in ends.items()}
        open_ = {tp: start for tp, start in open_.items() if start < ends[tp]}
        if open_:
            consumer.assign(list(open_))
            for tp, start in open_.items():
                consumer.seek(tp, start)
            # One fetch for all of them: a partition with an event after its stored offset
            # answers at once; one with only transaction markers there answers nothing.
            fetched = await consumer.getmany(timeout_ms=500)
            for tp, records in fetched.items():
                if any(r.offset < ends[tp] for r in records):
                    behind[tp.partition] = ends[tp] - open_[tp]
    finally:
        await consumer.stop()
    return behind


async def lag(settings: Settings, conn: asyncpg.Connection) -> list[Lag]:
    partitions = await _event_partitions(settings)
    ends = await _end_offsets(settings, partitions)
    report = []
    for name in PROJECTIONS:
        build = await builds.live_build(conn, name)
        stored = await builds.live_offsets(conn, name, settings.events_topic)
        errors = await conn.fetch(
            "SELECT partition, log_offset, error, at FROM projection_errors"
            " WHERE projection = $1 AND build = $2 ORDER BY partition, log_offset",
            name,
            build,
        ) if build is not None else []  # fmt: skip
        behind = await _behind(settings, stored, ends)
        report.append(Lag(name, build, behind, [dict(e) for e in errors]))
    return report


# --- rebuild ---------------------------------------------------------------------------------


class Progress:
    """A one-line progress report: events, events per second, time left."""

    def __init__(self, total: int, say: Say):
        self.total, self.say = max(total, 1), say
        self.done = 0
        self.started = self.shown = time.monotonic()

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown >= 1 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            left = max(self.total - self.done, 0) / rate if rate else 0
            share = min(self.done / self.total, 1)
            bar = "#" * int(share * 30)
            self.say(
                f"[{bar:<30}] {self.done}/{self.total} events, {rate:,.0f}/s, {left:,.0f} s left"
            )


async def _apply_batches(
    conn: Connection,
    projection: Projection,
    build: int,
    records: dict[TopicPartition, list[Any]],
) -> int:
    """Apply fetched records to ``build`` and move its checkpoints, in one transaction (a
    savepoint when the caller has one open)."""
    schema = builds.schema_of(projection.name, build)
    applied = 0
    async with conn.transaction():
        await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
        for tp, batch in records.items():
            if not batch:
                continue
            logged = [
                LoggedEvent(Event.model_validate_json(r.value or b""), r.partition, r.offset)
                for r in batch
            ]
            await projection.apply(conn, logged)
            await conn.execute(
                "INSERT INTO projection_checkpoint VALUES ($1, $2, $3) ON CONFLICT (topic,"
                " partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                tp.topic,
                tp.partition,
                batch[-1].offset + 1,
            )
            applied += len(batch)
    return applied


async def rebuild(settings: Settings, name: str, say: Say, batch_size: int = 5000) -> int:
    """Build the next build of ``name`` from offset 0 beside the live one, catch up to the live
    head, switch readers atomically, drop the old build. Returns the new build number."""
    projection = PROJECTIONS.get(name)
    if projection is None:
        raise ReadPathError(f"unknown projection {name!r}; known: {', '.join(PROJECTIONS)}")
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=2, max_size=3)
    lock = await pool.acquire()
    try:
        if not await lock.fetchval("SELECT pg_try_advisory_lock(hashtext('rebuild:' || $1))", name):
            raise ReadPathError(f"a rebuild of {name} is already running")
        await builds.ensure_live(pool, projection)
        async with pool.acquire() as conn:
            build = await builds.new_build(conn, projection, with_indexes=False)
        say(f"{name}: building build {build} from offset 0 beside the live build")
        partitions = await _event_partitions(settings)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            progress = Progress(sum(ends.values()), say)
            catch_up = _CatchUp(consumer, projection, build, progress, batch_size)
            async with pool.acquire() as conn:
                await catch_up.to(ends, conn)
                say(f"{name}: loaded; building indexes")
                schema = builds.schema_of(name, build)
                await conn.execute(f'SET search_path TO "{schema}", public;' + projection.indexes)
                await conn.execute("RESET search_path")
                # Catch up with what arrived meanwhile; then, holding the lock that makes the
                # live projector wait, apply the last few events and switch, in one transaction.
                await catch_up.to(await consumer.end_offsets(partitions), conn)
                async with conn.transaction():
                    await builds.live_build(conn, name, lock=True, exclusive=True)
                    await catch_up.to(await consumer.end_offsets(partitions), conn)
                    previous = await builds.publish(conn, projection, build)
        finally:
            await consumer.stop()
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
        self,
        consumer: AIOKafkaConsumer,
        projection: Projection,
        build: int,
        progress: Progress,
        batch_size: int,
    ):
        self.consumer, self.projection, self.build = consumer, projection, build
        self.progress, self.batch_size = progress, batch_size

    async def to(self, ends: dict[TopicPartition, int], conn: Connection) -> None:
        remaining = {tp for tp, end in ends.items() if await self.consumer.position(tp) < end}
        while remaining:
            fetched = await self.consumer.getmany(
                *remaining, timeout_ms=500, max_records=self.batch_size
            )
            wanted = {tp: [r for r in rs if r.offset < ends[tp]] for tp, rs in fetched.items()}
            self.progress.add(await _apply_batches(conn, self.projection, self.build, wanted))
            for tp in list(remaining):
                if await self.consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)


# --- replay and statistics as of --------------------------------------------------------------


async def _log_events(settings: Settings, partitions: list[TopicPartition]) -> list[Event]:
    return [
        Event.model_validate_json(record.value or b"")
        async for record in read_to_end(settings.kafka_bootstrap, partitions)
    ]


async def case_events(settings: Settings, case_id: str) -> list[Event]:
    """A case's events, from the partition its key maps to (all partitions if not there)."""
    partitions = await _event_partitions(settings)
    numbers = [tp.partition for tp in partitions]
    likely = DefaultPartitioner()(case_id.encode(), numbers, numbers)
    for candidates in ([partitions[likely]], partitions):
        found = [e for e in await _log_events(settings, candidates) if e.case_id == case_id]
        if found:
            return found
    return []


@dataclass(frozen=True)
class Replay:
    events: list[Event]
    counted: int
    """How many of the events had happened (or been recorded) by the instant."""
    state: CaseState | None


def replay_case(events: list[Event], as_of: datetime | None, basis: Basis) -> Replay:
    state: CaseState | None = None
    counted = 0
    for event in events:
        if as_of is not None and not happened_by(event, as_of, basis):
            break
        state = evolve(state, event)
        counted += 1
    return Replay(events, counted, state)


async def statistics(
    settings: Settings,
    conn: Connection,
    year: int,
    by: list[Dimension],
    as_of: datetime | None,
    basis: Basis,
) -> dict[str, Any]:
    """The figures of ``year`` (and the year before, for 同比), now or as of an instant."""
    rows = None
    if as_of is not None:
        events = await _log_events(settings, await _event_partitions(settings))
        rows = facts_as_of(events, as_of, basis)
    async with conn.transaction():
        if rows is not None:
            await load_facts_as_of(conn, rows)
        current = await figures(conn, _year(year), by)
        previous = await figures(conn, _year(year - 1), by)
    key = [d.value for d in by]
    before = {tuple(row[k] for k in key): row for row in previous}
    for row in current:
        row["year_over_year"] = year_over_year(row, before.get(tuple(row[k] for k in key)))
    return {
        "year": year,
        "as_of": as_of.isoformat() if as_of else None,
        "basis": basis.value if as_of else None,
        "by": key,
        "rows": current,
    }


def _year(year: int) -> Period:
    return Period(
        datetime(year, 1, 1, tzinfo=CHINA).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=CHINA).astimezone(UTC),
    )
