"""The projector runtime: consume the log, apply batches, store rows and offsets atomically.

Each projection has its own consumer group and its own PostgreSQL schema per build
(``projections.builds``). Offsets live in the build's ``projection_checkpoint`` table, written in
the same transaction as the rows (``projections.apply``); Kafka's committed offsets are never
used. On every assignment the runtime seeks to the stored offsets, and a batch is written only if
the stored offset is still the one it started from, so an instance that lost its partition can
never write behind its successor. What one fetch brought for several partitions is written in
one transaction (``apply.write_live_together``: a transaction costs its round trips whatever
it holds); whenever that fails, each partition is written on its own, as below.

A write that fails is one of two things (``projections.transient.is_transient`` tells which):

- **A failure that passes**: the connection was lost or refused, PostgreSQL is restarting, out of
  connections or broke a deadlock by rolling this transaction back. Nothing is wrong with the
  events: the partition is paused, sought back to its stored offset and tried again after a
  backoff (0.2 s doubling to 5 s), for as long as it takes. The loop never sleeps for it: the
  other partitions go on, and the consumer keeps polling, so it stays in its group however long
  PostgreSQL is away. Reading the stored offsets at an assignment is retried the same way.
- **An event the projection cannot apply** (a bug, a constraint the data breaks, a payload it
  does not understand): it is never skipped. The events before it are applied, the error is
  recorded with the event's coordinates in ``projection_errors``, and that partition stops
  advancing until someone fixes the cause and restarts the projector (or the partition moves to
  another instance, which tries it once more). The batch that gets past the event deletes its
  error row in its own transaction, so the projection reports healthy again.

Where an operator sees a partition retrying: the state lives in this process, since while
PostgreSQL is down nothing else can hold it, and failed attempts log warnings with how long the
partition has been retrying and how many attempts it took (at most one a projection every 10 s,
with a count of those held back: ``services.logs``). Each failed attempt also upserts, best
effort, a ``projection_retrying`` row (since, attempts, last error): that write succeeds exactly
when PostgreSQL answers but the partition's writes still fail (deadlocks over and over, lock or
statement timeouts), and then ``GET /health/projections`` and ``casetrail lag`` show it and
answer 503 / exit 1. While PostgreSQL is down altogether they cannot read anything and say so
themselves (503 ``database_unavailable``). The first write that goes through deletes the row in
its own transaction; a new owner of the partition deletes the previous owner's row when it is
assigned the partition. No health endpoint of the projector's own: one more port to configure
and watch, for what those two already show.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from projections import apply, builds
from projections.apply import BuildSwitched
from projections.projection import LoggedEvent, Projection
from projections.transient import Backoff, describe, is_transient, keep_trying
from services.adapters import metrics
from services.adapters.kafka import Record, client_options, consumer_lag, started, unreachable
from services.projector import bulk
from services.projector.telemetry import Watch
from services.settings import Settings

log = logging.getLogger("casetrail.projector")

REPORT_TIMEOUT_S = 5.0
"""How long recording a partition's retry state may take (it is best effort)."""


@dataclass
class Retry:
    """A partition whose writes (or whose stored offset) failed for a reason that passes."""

    error: str
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    backoff: Backoff = field(default_factory=Backoff)
    due: float | None = None
    """When to try again (monotonic); None once resumed, while the retried batch is fetched."""


class ProjectionRunner(ConsumerRebalanceListener):
    def __init__(
        self,
        projection: Projection,
        pool: asyncpg.Pool,
        *,
        kafka: Settings,
        topic: str,
        group_id: str,
        batch_size: int = 1000,
        batch_ms: int = 200,
        catch_up_from: int = 50_000,
        fetch_wait_ms: int = 50,
        fetch_min_bytes: int = 32 * 1024,
    ):
        self.projection = projection
        self.pool = pool
        # A logger per projection: a complaint repeated during an outage is logged at most
        # once per 10 s per logger and message (services.logs), so each projection still shows.
        self.log = log.getChild(projection.name)
        self.topic = topic
        self.batch_size = batch_size
        self.batch_ms = batch_ms
        self.fetch_wait_ms, self.fetch_min_bytes = fetch_wait_ms, fetch_min_bytes
        self.build = 0
        self.positions: dict[TopicPartition, int] = {}
        """The next offset to apply, per partition whose stored offset is known."""
        self.unplaced: set[TopicPartition] = set()
        """Assigned, but the stored offset could not be read yet (paused meanwhile)."""
        self.retrying: dict[TopicPartition, Retry] = {}
        self.stuck: set[TopicPartition] = set()
        self.kafka, self.group_id = kafka, group_id
        self.consumer: AIOKafkaConsumer  # made, and made again, by run
        self.catch_up_from = catch_up_from
        self.catch_up_wanted: set[TopicPartition] = set()
        """Partitions just assigned: far behind, they are caught up in bulk (``_catch_up``)."""
        self.catching_up: asyncio.Task[int] | None = None
        self.in_bulk: set[TopicPartition] = set()
        """The partitions the bulk catch-up is loading (paused here meanwhile)."""
        self.watch = Watch(projection.name)

    def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **client_options(self.kafka),
            group_id=self.group_id,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            # Batches that grow with the load: the broker holds a fetch until it has this many
            # bytes or this long has passed. Each batch is a PostgreSQL transaction of several
            # round trips per partition and projection, whatever its size: one event each
            # (what a fetch answered at the first event gave) cost more CPU than the events.
            fetch_max_wait_ms=self.fetch_wait_ms,
            fetch_min_bytes=self.fetch_min_bytes,
        )
        consumer.subscribe([self.topic], listener=self)
        return consumer

    async def run(self, stop: asyncio.Event) -> None:
        name = self.projection.name
        build = await keep_trying(
            lambda: builds.ensure_live(self.pool, self.projection),
            f"{name}: reading the live build",
            self.log,
            stop,
        )
        if build is None:
            return  # stopped before PostgreSQL answered
        self.build = build
        waiting = f"{name}: waiting for Kafka at {self.kafka.kafka_bootstrap}"
        backoff = Backoff(first=1.0, cap=10.0)

        async def attempt() -> AIOKafkaConsumer:
            # The listener works on self.consumer, and may be called before start() returns.
            self.consumer = self._consumer()
            return await started(self.consumer)

        if await keep_trying(attempt, waiting, self.log, stop, unreachable, backoff) is None:
            return  # stopped before Kafka answered
        self.log.info("projection %s build %d started", name, self.build)
        try:
            while not stop.is_set():
                await self._retry_due()
                await self._catch_up()
                try:
                    batches = await self.consumer.getmany(
                        timeout_ms=self.batch_ms, max_records=self.batch_size
                    )
                except KafkaError as error:
                    # Trouble with the group or the brokers: the consumer reconnects by itself.
                    delay = backoff.next_delay()
                    self.log.warning("%s: Kafka: %s; going on in %.0f s", name, error, delay)
                    await asyncio.sleep(delay)
                    continue
                backoff = Backoff(first=1.0, cap=10.0)
                await self._apply_fetched(batches)
        finally:
            if self.catching_up is not None:
                self.catching_up.cancel()  # its worker processes end with it
                with contextlib.suppress(BaseException):
                    await self.catching_up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):  # Kafka may be away: then the group notices
                    await self.consumer.stop()

    # --- what Prometheus reads (services.adapters.metrics) ----------------------------------

    def lag_events(self) -> list[metrics.Reading]:
        if not hasattr(self, "consumer"):
            return []
        found: list[metrics.Reading] = []
        for tp in list(self.positions):
            lag = consumer_lag(self.consumer, tp)
            if lag is not None:
                found.append(((self.projection.name, str(tp.partition)), float(lag)))
        return found

    def lag_seconds(self) -> list[metrics.Reading]:
        behind = any(lag for _, lag in self.lag_events())
        return [((self.projection.name,), self.watch.age if behind else 0.0)]

    # --- where to read from ------------------------------------------------------------

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._place(list(assigned))
        # Held until _catch_up has looked how far behind they are: a first fetch would
        # otherwise take them down the regular path before it could.
        for tp in assigned:
            if tp in self.positions:
                self._pause(tp)
                self.catch_up_wanted.add(tp)

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        # Whoever gets a partition next starts from its stored offset, afresh: a stopped
        # partition is tried once more then (and stops again if its event still fails).
        for tp in revoked:
            self.positions.pop(tp, None)
            self.unplaced.discard(tp)
            self.retrying.pop(tp, None)
            self.stuck.discard(tp)

    async def _place(self, partitions: list[TopicPartition]) -> None:
        """Seek to the stored offsets; if PostgreSQL does not answer, pause the partitions and
        try again later (``_retry_due``)."""
        if not partitions:
            return
        numbers = [tp.partition for tp in partitions]
        try:
            async with self.pool.acquire() as conn:
                stored = await apply.stored_offsets(
                    conn, self.projection.name, self.build, self.topic, numbers
                )
                await apply.forget_retrying(
                    conn, self.projection.name, self.build, self.topic, numbers
                )
        except Exception as error:
            if not is_transient(error):
                raise
            for tp in partitions:
                self.positions.pop(tp, None)
                self.unplaced.add(tp)
                await self._failed(tp, "reading its stored offset", error)
            return
        for tp in partitions:
            self.positions[tp] = stored[tp.partition]
            self._seek(tp, stored[tp.partition])
            if tp in self.unplaced:
                self.unplaced.discard(tp)
                self._recovered(tp)
                self._resume(tp)

    # Positions only of partitions still assigned: a batch or a retry may end after a rebalance
    # took its partition away (a listener revokes without waiting for it), and aiokafka raises
    # for a partition it no longer has. Its next owner starts from the stored offset anyway.

    def _pause(self, tp: TopicPartition) -> None:
        if tp in self.consumer.assignment():
            self.consumer.pause(tp)

    def _resume(self, tp: TopicPartition) -> None:
        if tp in self.consumer.assignment():
            self.consumer.resume(tp)

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        if tp in self.consumer.assignment():
            self.consumer.seek(tp, offset)

    # --- catching up in bulk ---------------------------------------------------------------

    async def _catch_up(self) -> None:
        """Partitions just assigned that are far behind (the projector was down, or is new) are
        loaded by the rebuild's bulk loader (``services.projector.bulk``: worker processes,
        large batches, COPY) up to the log's end as it is now, while this loop goes on polling
        (so the consumer stays in its group) with them paused; then they go on here from the
        checkpoints the loader stored. The loader writes as this runner does: into the live
        build, rows and checkpoints in one transaction, only from the checkpoint it read. If it
        stops early (an event it cannot apply, PostgreSQL away, a rebuild switched builds),
        the regular path below goes on from the stored checkpoints and deals with the cause as
        it always does."""
        if self.catching_up is not None:
            if self.catching_up.done():
                await self._caught_up(self.catching_up)
            return
        wanted = [
            tp
            for tp in self.catch_up_wanted
            if tp in self.positions and tp not in self.retrying and tp not in self.stuck
        ]
        self.catch_up_wanted.clear()
        wanted = [tp for tp in wanted if tp in self.consumer.assignment()]
        if not wanted:
            return
        try:
            ends = await self.consumer.end_offsets(wanted)
        except KafkaError:
            ends = {}  # the regular path reads them as usual
        behind = {tp: end for tp, end in ends.items() if end > self.positions[tp]}
        backlog = sum(end - self.positions[tp] for tp, end in behind.items())
        if backlog < self.catch_up_from:
            for tp in wanted:  # the regular path, from the stored offset
                self._seek(tp, self.positions[tp])
                self._resume(tp)
            return
        self.log.info(
            "%s: %d events behind on %d partitions: catching up in bulk",
            self.projection.name,
            backlog,
            len(behind),
        )
        self.in_bulk = set(behind)
        for tp in wanted:
            if tp not in behind:  # nothing to catch up there
                self._seek(tp, self.positions[tp])
                self._resume(tp)
        self.catching_up = asyncio.create_task(
            bulk.load(
                self.kafka,
                self.projection.name,
                self.build,
                {tp.partition: end for tp, end in behind.items()},
                live=True,
                processes_from=0,  # a backlog worth loading in bulk is worth the processes
            )
        )

    async def _caught_up(self, task: "asyncio.Task[int]") -> None:
        self.catching_up = None
        partitions = [tp for tp in self.in_bulk if tp in self.consumer.assignment()]
        self.in_bulk = set()
        try:
            applied = task.result()
        except BuildSwitched as switched:
            await self._switch(switched)
        except Exception as error:
            self.log.warning(
                "%s: the bulk catch-up stopped (%s); going on from the stored checkpoints",
                self.projection.name,
                describe(error),
            )
        else:
            self.log.info("%s: caught up %d events in bulk", self.projection.name, applied)
        await self._place(partitions)  # sought to the checkpoints the loader stored
        for tp in partitions:
            if tp in self.positions and tp not in self.retrying:
                self._resume(tp)

    # --- retrying ------------------------------------------------------------------------

    async def _failed(self, tp: TopicPartition, doing: str, error: Exception) -> None:
        """A failure that passes: pause the partition and try it again after a backoff."""
        retry = self.retrying.get(tp)
        if retry is None:
            retry = self.retrying[tp] = Retry(describe(error))
        retry.error = describe(error)
        delay = retry.backoff.next_delay()
        retry.due = time.monotonic() + delay
        self._pause(tp)
        self.log.warning(
            "%s p%d: %s failed (%s); trying again in %.1f s: retrying since %s, for %.1f s,"
            " %d attempts",
            self.projection.name,
            tp.partition,
            doing,
            retry.error,
            delay,
            retry.since.isoformat(timespec="seconds"),
            retry.backoff.elapsed,
            retry.backoff.attempts,
        )
        try:
            async with asyncio.timeout(REPORT_TIMEOUT_S), self.pool.acquire() as conn:
                await apply.record_retrying(
                    conn,
                    self.projection.name,
                    self.build,
                    tp.topic,
                    tp.partition,
                    retry.since,
                    retry.backoff.attempts,
                    retry.error,
                    self.positions.get(tp),
                )
        except Exception as unrecorded:
            # PostgreSQL is down altogether: the warning above is all there can be for now.
            self.log.debug(
                "%s p%d: retry state not recorded: %s",
                self.projection.name,
                tp.partition,
                unrecorded,
            )

    def _recovered(self, tp: TopicPartition) -> None:
        retry = self.retrying.pop(tp, None)
        if retry is not None:
            self.log.info(
                "%s p%d: going on after %.1f s of retrying (%d attempts; last error: %s)",
                self.projection.name,
                tp.partition,
                retry.backoff.elapsed,
                retry.backoff.attempts,
                retry.error,
            )

    async def _retry_due(self) -> None:
        """Try again the partitions whose backoff is over: read the stored offsets of those
        that have none yet, and resume the others from their stored offset."""
        now = time.monotonic()
        due = [tp for tp, r in self.retrying.items() if r.due is not None and r.due <= now]
        if not due:
            return
        await self._place([tp for tp in due if tp in self.unplaced])
        for tp in due:
            retry = self.retrying.get(tp)
            if retry is None or tp in self.unplaced or tp not in self.positions:
                continue  # placed just now, or still waiting to be
            retry.due = None
            self._seek(tp, self.positions[tp])
            self._resume(tp)

    # --- applying ------------------------------------------------------------------------

    async def _apply_fetched(self, batches: dict[TopicPartition, list[Record]]) -> None:
        """What one fetch brought: the partitions that are going well together, in one
        transaction (``apply.write_live_together``); any partition in trouble, or all of
        them if that transaction fails, one by one as before, where failures are told apart
        and handled."""
        together: dict[TopicPartition, tuple[int, list[Record]]] = {}
        for tp, records in batches.items():
            start = self.positions.get(tp)
            if start is None or tp in self.stuck or tp in self.retrying:
                continue
            wanted = [r for r in records if r.offset >= start]  # fetched before our seek
            if wanted:
                together[tp] = (start, wanted)
        if len(together) > 1:
            try:
                await self._write_together(together)
            except BuildSwitched as switched:
                await self._switch(switched)
                return
            except Exception as error:
                self.log.info(
                    "%s: %d partitions' batches together failed (%s): each on its own",
                    self.projection.name,
                    len(together),
                    describe(error),
                )
            else:
                batches = {tp: rs for tp, rs in batches.items() if tp not in together}
        for tp, records in batches.items():
            await self._apply(tp, records)

    async def _write_together(
        self, together: dict[TopicPartition, tuple[int, list[Record]]]
    ) -> None:
        parsed = {
            tp.partition: (
                start,
                [LoggedEvent.parse(r.value, r.partition, r.offset) for r in records],
            )
            for tp, (start, records) in together.items()
        }
        began = self.watch.began()
        async with self.pool.acquire() as conn:
            stored = await apply.write_live_together(
                conn, self.projection, self.build, self.topic, parsed
            )
        written = [
            tp for tp, (_, records) in together.items()
            if stored.get(tp.partition) == records[-1].offset + 1
        ]  # fmt: skip
        if written:
            self.watch.written(
                [r for tp in written for r in together[tp][1]],
                [logged for tp in written for logged in parsed[tp.partition][1]],
                began,
            )
        for tp, (start, records) in together.items():
            now = stored.get(tp.partition)
            if now is None:
                # No checkpoint row (never so once placed): fetch these again rather than
                # lose them.
                self._seek(tp, start)
                continue
            if now != records[-1].offset + 1:
                self.log.warning(
                    "%s p%d: checkpoint %s, batch from %d",
                    self.projection.name,
                    tp.partition,
                    now,
                    start,
                )
                self._seek(tp, now)
            if tp in self.consumer.assignment():  # not if revoked meanwhile
                self.positions[tp] = now

    async def _apply(self, tp: TopicPartition, records: list[Record]) -> None:
        if tp in self.in_bulk or tp in self.catch_up_wanted:
            # Fetched before it was paused: it is sought back to its checkpoint when resumed.
            return
        start = self.positions.get(tp)
        retry = self.retrying.get(tp)
        if start is None or tp in self.stuck or (retry is not None and retry.due is not None):
            # Fetched while the rebalance listener was still seeking to the stored offsets:
            # fetch again from there once it has (or leave them to the partition's new owner).
            if start is None and tp not in self.unplaced and tp in self.consumer.assignment():
                self._seek(tp, records[0].offset)
            return
        records = [r for r in records if r.offset >= start]  # fetched before our seek
        if not records:
            return
        try:
            await self._write(tp, start, records)
        except BuildSwitched as switched:
            await self._switch(switched)
        except Exception as error:
            if is_transient(error):
                await self._failed(tp, f"writing the batch at {start}", error)
                return
            self.log.warning(
                "%s: batch at p%d@%d failed (%s): one by one",
                self.projection.name,
                tp.partition,
                start,
                error,
            )
            await self._apply_one_by_one(tp, records)
        else:
            self._recovered(tp)

    async def _apply_one_by_one(self, tp: TopicPartition, records: list[Record]) -> None:
        for record in records:
            try:
                if not await self._write(tp, self.positions[tp], [record]):
                    self._recovered(tp)
                    return  # another instance moved on: carry on from its checkpoint
            except BuildSwitched as switched:
                await self._switch(switched)
                return
            except Exception as error:
                if is_transient(error):
                    await self._failed(tp, f"writing the event at {record.offset}", error)
                else:
                    await self._stop_at(tp, record.offset, error)
                return
        self._recovered(tp)

    async def _write(self, tp: TopicPartition, start: int, records: list[Record]) -> bool:
        """Write a batch from ``start``; False if another instance had already moved the
        partition's checkpoint (then the consumer is moved to where that instance stopped)."""
        batch = [LoggedEvent.parse(r.value, r.partition, r.offset) for r in records]
        began = self.watch.began()
        async with self.pool.acquire() as conn:
            stored = await apply.write_live(
                conn, self.projection, self.build, tp.topic, start, batch
            )
        if stored == batch[-1].offset + 1:
            self.watch.written(records, batch, began)
        if stored != batch[-1].offset + 1:
            # Another instance wrote this partition meanwhile: resume from what it stored.
            self.log.warning(
                "%s p%d: checkpoint %s, batch from %d",
                self.projection.name,
                tp.partition,
                stored,
                start,
            )
            self._seek(tp, stored)
        if tp in self.consumer.assignment():  # not if revoked meanwhile
            self.positions[tp] = stored
        return stored == batch[-1].offset + 1

    async def _switch(self, switched: BuildSwitched) -> None:
        """A rebuild published a new build: carry on there, from its own checkpoints."""
        self.log.info(
            "%s: build %s is live now (was %d)", self.projection.name, switched.live, self.build
        )
        self.build = switched.live or 0
        await self._place(list(self.positions))

    async def _stop_at(self, tp: TopicPartition, offset: int, error: Exception) -> None:
        """An event the projection cannot apply: record it, and stop the partition there."""
        self.log.error(
            "%s cannot apply the event at %s p%d@%d: %s; the partition stops here",
            self.projection.name,
            tp.topic,
            tp.partition,
            offset,
            error,
        )
        try:
            async with self.pool.acquire() as conn:
                await apply.record_error(
                    conn, self.projection.name, self.build, tp.topic, tp.partition, offset, error
                )
        except Exception as failure:
            if not is_transient(failure):
                raise
            # Try the partition again: it meets the event again, and records it then.
            await self._failed(tp, f"recording the error at {offset}", failure)
            return
        self.retrying.pop(tp, None)
        self.stuck.add(tp)
        self._pause(tp)
