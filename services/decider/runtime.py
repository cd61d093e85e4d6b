"""The decider: the single writer of the log.

For every partition p of the submissions topic it owns, it keeps a transactional producer whose
transactional id names p (so a successor taking p over fences it), rebuilds the state of
partition p from the events and outcomes topics, and then writes, per batch of submissions, the
events, the outcomes and the consumed offsets in one Kafka transaction. Events and outcomes go to
partition p of their topics, so the state a decider needs always lives in the partitions it owns.
A submission whose case lives on another partition q (its client partitions keys by another hash
than Kafka's murmur2, as librdkafka's clients do by default) is forwarded in that transaction to
partition q of the submissions topic, bytes and headers as they came, plus ``FORWARDED_FROM``:
q's decider decides it exactly once, in the order the client sent the case's submissions.

It also chains every event of partition p (``events.hashing.partition_chain``) and, in every
transaction that appends events, publishes a checkpoint of the chain covering them, signed with
its Ed25519 key (which the pinned key ring must hold as a checkpoint key), to partition p of the
checkpoints topic. Events and their checkpoint commit together (readers see committed records
only), so every committed event is covered by a signed checkpoint, and an event that none covers
was not written by a decider.

It never signs over a record it did not write: before serving a partition it checks the
partition's chain against the latest checkpoint signed with a key of the ring (``PartitionAudit``).
If the log differs from it, or holds events after it (or events and no checkpoint at all), the
partition is refused: nothing is decided or signed for it, the log says why, ``GET /health``
answers 503 naming it, and the check runs again every ``decider_refusal_retry_s`` seconds, in the
background, so that the partition is served again once an operator has dealt with the records
(README: "When the decider refuses a partition").

How a partition changes hands (the order matters; each step closes a race):

1. Revoked: the rebalance listener waits for the batch in flight (``lock``), so the offsets it
   commits are final before anyone else takes the partition over. The partition is kept aside.
2. Assigned: a partition kept aside comes back as it was (the sticky assignor makes this the
   usual case: nothing to re-read). A new one is paused and marked pending: the listener returns
   at once, because aiokafka sends no heartbeats while it runs.
3. Taken over, in the main loop: start the producer (fencing the previous owner and completing
   its last transaction), read the partition's checkpoints, events and outcomes, check the
   events against the latest signed checkpoint (or refuse the partition, leaving it paused),
   fetch the committed offset (final now), seek there and resume. Records below that offset,
   fetched before the seek, are dropped; nothing is decided twice and nothing skipped.
4. Any failure to write a batch (Kafka away, fenced by a successor) releases the partition's
   producer and marks it pending again, with a growing delay: it is taken over afresh, from the
   log, which is the only state that counts. The process itself never gives up.

Why not the cooperative-sticky protocol (KIP-429), which revokes only the partitions that move:
aiokafka 0.14 speaks the eager protocol only (its assignors are range, round robin and an eager
sticky one), so every rebalance revokes everything. Keeping revoked partitions aside until the
new assignment is known, with the sticky assignor, gives most of the benefit: a partition that
stays is never re-read, and one that moves is handed over by the steps above.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.structs import RecordMetadata

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event, Outcome
from events.submissions import attribution
from events.suite import Suite
from projections.transient import Backoff, describe, is_transient, keep_trying
from services.adapters import metrics, plain_http
from services.adapters.calendar_files import coverage
from services.adapters.case_store import PgCaseStore, open_case_store
from services.adapters.kafka import (
    DEAD_LETTER_MAX_BYTES,
    Record,
    check_copartitioned,
    client_options,
    committed_consumer,
    consumer_lag,
    max_message_bytes,
    partitioner,
    read_to_end,
    started,
    unreachable,
)
from services.decider import health, telemetry
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.decider.snapshot import (
    HEAD_KEY,
    LAYOUT,
    Head,
    Snapshot,
    StoredCaseUnreadable,
    head_record,
    stored_cases,
    stored_head,
)
from services.integrity.checkpoints import Checkpoint, Signer, SigningKeyNotTrusted
from services.integrity.declaration import read_declaration
from services.integrity.log_check import PartitionAudit, untrusted
from services.integrity.log_suite import settle_log_suite
from services.integrity.signing import SubmissionVerifier
from services.privacy.cipher import MasterKeyError
from services.privacy.keystore import KeyStore, PgKeyStore, open_keystore
from services.privacy.sealing import Sealer
from services.settings import KafkaRole, Settings

log = logging.getLogger("casetrail.decider")


@dataclass(frozen=True)
class PartitionChain:
    """The chain over one partition of the events topic."""

    head: str = GENESIS_HASH
    count: int = 0
    last_offset: int = -1
    suite: Suite = field(kw_only=True)

    def extended(self, event_hashes: list[str], last_offset: int) -> "PartitionChain":
        head = self.head
        for event_hash in event_hashes:
            head = partition_chain(head, event_hash, self.suite)
        return replace(
            self, head=head, count=self.count + len(event_hashes), last_offset=last_offset
        )


SIGNING_KEY_NOT_TRUSTED = "signing_key_not_trusted"
"""A refusal's kind when the decider's own key is the trouble (the others: a ProblemKind)."""


@dataclass(frozen=True)
class Refusal:
    """Why a partition is not served."""

    kind: str
    reason: str
    since: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Activity:
    """What the decider did lately, logged every minute: enough to see where time goes."""

    submissions: int = 0
    forwarded: int = 0
    rounds: int = 0
    fetching: float = 0.0
    deciding: float = 0.0
    since: float = field(default_factory=time.monotonic)
    every: float = 60.0

    def add(self, batches: dict[Any, list[Any]], fetching: float, deciding: float) -> None:
        if batches:
            self.submissions += sum(len(records) for records in batches.values())
            self.rounds += 1
            self.fetching += fetching
            self.deciding += deciding
        if time.monotonic() - self.since >= self.every and self.rounds:
            log.info(
                "%d submissions in %d rounds (%.0f per round, %d forwarded to their case's"
                " partition); %.1f ms fetching and %.1f ms deciding and committing per round",
                self.submissions,
                self.rounds,
                self.submissions / self.rounds,
                self.forwarded,
                self.fetching / self.rounds * 1000,
                self.deciding / self.rounds * 1000,
            )
            self.submissions = self.forwarded = self.rounds = 0
            self.fetching = self.deciding = 0.0
            self.since = time.monotonic()


@dataclass
class OwnedPartition:
    partition: int
    producer: AIOKafkaProducer
    state: PartitionState
    chain: PartitionChain
    next_offset: int
    """The next submission to decide: every record before it has its answer on the log."""
    checkpoint_offset: int = -1
    """Where the checkpoint signing ``chain`` is on the checkpoints topic (-1: none yet)."""
    outcomes_next: int = 0
    """Outcomes from here on are not in the state's last snapshot."""
    events_next: int = 0
    """Where the next event will be: the partition has no other writer, and a transaction's
    commit marker follows its last event."""
    snapshot_due: int = 0
    """Submissions to decide before the next snapshot (0 or less: in the next batch)."""
    stale: frozenset[bytes] = frozenset()
    """Keys of the snapshot topic the state does not know (another log's): the next snapshot
    deletes them."""
    replayed: int = 0
    """Events folded at the take-over: the whole partition, or the tail after its snapshot."""
    from_snapshot: bool = False


@dataclass(frozen=True)
class Replay:
    """What a take-over read: why to refuse the partition (if it must), the chain, and where
    the latest checkpoint and the outcomes end."""

    refusal: Refusal | None
    chain: PartitionChain
    checkpoint_offset: int = -1
    outcomes_next: int = 0
    replayed: int = 0
    from_snapshot: bool = False
    stale: frozenset[bytes] = frozenset()


@dataclass(frozen=True)
class Written:
    """What a batch's transaction left: the chain, and where its checkpoint and outcomes are."""

    chain: PartitionChain
    checkpoint_offset: int
    outcomes_next: int
    events_next: int
    snapshotted: bool
    forwarded: int = 0
    """Submissions sent on to their case's partition."""


FORWARDED_FROM = "casetrail.forwarded_from"
"""The header a forwarded submission gets: ``<partition>@<offset>`` of the submissions topic,
where it arrived. It stops a second forward (``wrong_partition``), and says where to look; any
publisher can set headers, so it proves nothing."""


GOODBYE_S = 5.0
"""How long a stopping decider waits for its last round, the group and its producers."""


class Decider(ConsumerRebalanceListener):
    def __init__(self, settings: Settings):
        self.settings = settings.as_kafka_user(KafkaRole.DECIDER)
        self.officers = load_officers(settings.officers_file)
        self.signer = Signer(
            settings.signing_key_path, settings.key_ring_path, settings.crypto_suite
        )
        self.signer.check(datetime.now(UTC))  # SigningKeyNotTrusted: refuse to start
        # The signer reads the ring again whenever its file changes; the submissions' check
        # follows it before each batch, so a key revoked (its validity closed) or added counts
        # at once, without a restart.
        self.signatures = SubmissionVerifier(
            self.signer.ring, settings.crypto_suite, settings.require_signatures
        )
        self.lock = asyncio.Lock()
        """Held while a batch is decided or a partition taken over; the listener waits for it."""
        self.owned: dict[int, OwnedPartition] = {}
        self.kept: dict[int, OwnedPartition] = {}
        """Revoked, kept until the new assignment says whether they come back."""
        self.pending: dict[int, float] = {}
        """Assigned but not taken over yet (paused), with the monotonic time of the next try."""
        self.backoffs: dict[int, Backoff] = {}
        """Per partition: how long to wait before taking it over again after a failure."""
        self.refused: dict[int, Refusal] = {}
        """Assigned, paused, and not served: the log does not match its signed checkpoints."""
        self.rechecks: dict[int, asyncio.Task[None]] = {}
        """Per refused partition: the background check that makes it pending again once the
        log verifies."""
        self.connected = False
        self.closing: set[asyncio.Task[None]] = set()
        self.partition_count = 0
        self.dead_letter_limit = 1_048_588
        """The dead-letter topic's max.message.bytes (read at start; Kafka's default here)."""
        self.consumer: AIOKafkaConsumer  # made, and made again, by _connect
        self.keystore: KeyStore | None = None
        """Where the keys of the data subjects go (``seal_personal_data``), set by ``run``."""
        self.case_store: PgCaseStore | None = None
        """Where the cases not kept in memory are read from (None: every case is kept)."""
        self.distrusted: set[int] = set()
        """Partitions whose stored snapshot did not read: the next take-over folds the whole
        log (and the snapshot after it replaces the one that did not read)."""
        self.activity = Activity()
        self.metrics = metrics.registry(*metrics.DECIDER)

    def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=self.settings.decider_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=self.settings.decider_session_timeout_ms,
            heartbeat_interval_ms=self.settings.decider_session_timeout_ms // 3,
            # Sticky: after a rebalance most partitions stay where they were and need no
            # take-over. Round robin as well, so that deciders of an older release can still
            # join the group during a rolling upgrade.
            partition_assignment_strategy=(StickyPartitionAssignor, RoundRobinPartitionAssignor),
        )
        consumer.subscribe([self.settings.submissions_topic], listener=self)
        return consumer

    async def run(self, stop: asyncio.Event) -> None:
        host, port = self.settings.decider_health_host, self.settings.decider_health_port
        server = await health.serve(host, port, self.health, self._metrics)
        log.info("GET /health and /metrics on %s:%d", host, plain_http.port_of(server))
        try:
            await self._same_suite(stop)
            async with contextlib.AsyncExitStack() as stack:
                stack.enter_context(metrics.DECIDER_LAG.reading(self._lag))
                stack.enter_context(metrics.DECIDER_PARTITIONS.reading(self._partition_states))
                if self.settings.decider_snapshot_every and self.settings.decider_hot_cases:
                    self.case_store = await stack.enter_async_context(
                        open_case_store(self.settings, LAYOUT)
                    )
                if self.settings.seal_personal_data:
                    keystore = await stack.enter_async_context(open_keystore(self.settings))
                    await _same_master(keystore)
                    self.keystore = keystore
                else:
                    log.warning(
                        "decider: personal data is appended in plaintext (seal_personal_data)"
                    )
                await self._run(stop)
        finally:
            server.close()

    async def _same_suite(self, stop: asyncio.Event) -> None:
        """Before taking over any partition: the log's suite must be this decider's, declared
        by this decider if nothing fixed it yet (``log_suite.settle_log_suite``); SuiteMismatch
        (the decider does not start) otherwise. While Kafka is away, wait for it, as for
        everything else a decider needs from it."""
        found = await keep_trying(
            lambda: settle_log_suite(self.settings, self.signer, "the decider"),
            "the log's suite not checked yet",
            log,
            stop,
            unreachable,
            Backoff(first=1.0, cap=10.0),
        )
        if found is not None:
            log.info("the log is of the suite %s (%s)", self.settings.crypto_suite, found.how())

    def _chain(
        self, head: str = GENESIS_HASH, count: int = 0, last_offset: int = -1
    ) -> PartitionChain:
        return PartitionChain(head, count, last_offset, suite=self.settings.crypto_suite)

    def health(self) -> tuple[int, dict[str, Any]]:
        """``GET /health``: 200 while every assigned partition is served or being taken over,
        503 while one is refused (or Kafka was never reached). Places and reasons only: no
        record's content."""
        partitions: dict[str, dict[str, Any]] = {}
        for p in sorted({*self.owned, *self.pending, *self.kept, *self.refused}):
            refusal = self.refused.get(p)
            if refusal is not None:
                partitions[str(p)] = {
                    "state": "refused",
                    "kind": refusal.kind,
                    "reason": refusal.reason,
                    "since": refusal.since.isoformat(),
                }
            elif p in self.owned:
                owned = self.owned[p]
                partitions[str(p)] = {
                    "state": "serving",
                    # What the take-over folded: the tail after a snapshot, or the whole log.
                    "took_over": {
                        "from_snapshot": owned.from_snapshot,
                        "events_folded": owned.replayed,
                    },
                    "cases": {
                        "known": owned.state.case_count,
                        "in_memory": len(owned.state.by_case),
                    },
                }
            else:
                partitions[str(p)] = {"state": "taking_over"}
        status = "refusing" if self.refused else "ok" if self.connected else "waiting_for_kafka"
        body = {
            "status": status,
            "key_id": self.signer.key_id,
            "partitions": partitions,
            # A missing holiday schedule does not stop the decider; it refuses the steps whose
            # deadlines need it, and says so here before they come.
            "calendar": coverage(self.settings).as_json(),
        }
        return (200 if status == "ok" else 503), body

    def _metrics(self) -> plain_http.Answer:
        return 200, metrics.CONTENT_TYPE, metrics.render(self.metrics)

    def _lag(self) -> list[metrics.Reading]:
        """Per partition served: submissions not read yet (as of the last fetch), and those
        of the batch being decided."""
        found: list[metrics.Reading] = []
        for p in list(self.owned):
            lag = consumer_lag(self.consumer, TopicPartition(self.settings.submissions_topic, p))
            if lag is not None:
                found.append(((str(p),), float(lag + telemetry.deciding(p))))
        return found

    def _partition_states(self) -> list[metrics.Reading]:
        taking_over = {*self.pending, *self.kept} - set(self.refused)
        return [
            (("serving",), float(len(self.owned))),
            (("taking_over",), float(len(taking_over))),
            (("refused",), float(len(self.refused))),
        ]

    async def _run(self, stop: asyncio.Event) -> None:
        if not await self._connect(stop):
            return
        self.connected = True
        log.info("decider started, group %s", self.settings.decider_group)
        deciding = asyncio.create_task(self._decide_until(stop))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({deciding, stopping}, return_when=asyncio.FIRST_COMPLETED)
            # Stopping: the round in flight may finish, unless Kafka is away and it would wait
            # for Kafka. Cut short, its transaction never commits and the next owner aborts it.
            await asyncio.wait({deciding}, timeout=GOODBYE_S)
        finally:
            stopping.cancel()
            while not deciding.done():
                # Again if need be: an abort awaiting an absent Kafka ends at the next cancel.
                deciding.cancel()
                await asyncio.wait({deciding}, timeout=1.0)
            await self._goodbye()
        error = None if deciding.cancelled() else deciding.exception()
        if error is not None:
            raise error  # a bug, not an outage: let it be seen

    async def _decide_until(self, stop: asyncio.Event) -> None:
        activity = self.activity
        failures = Backoff(first=1.0, cap=10.0)
        while not stop.is_set():
            try:
                await self._take_over_due()
                waited = time.perf_counter()
                batches = await self.consumer.getmany(timeout_ms=200, max_records=2000)
                began = time.perf_counter()
                async with self.lock:
                    self._follow_the_ring()
                    await _each(self._decide_batch(tp, rs) for tp, rs in batches.items())
                activity.add(batches, began - waited, time.perf_counter() - began)
                failures = Backoff(first=1.0, cap=10.0)
            except KafkaError as error:
                # The consumer reports trouble with the group or the brokers; it reconnects by
                # itself: wait a little and carry on.
                delay = failures.next_delay()
                log.warning("Kafka: %s; going on in %.0f s", error, delay)
                await _sleep(stop, delay)

    def _follow_the_ring(self) -> None:
        """Check submissions against the ring the signer holds now (read again when its file
        changed; a ring that cannot be read leaves the one before, and stops the signing)."""
        ring = self.signer.ring
        if ring is self.signatures.ring:
            return
        self.signatures = SubmissionVerifier(
            ring, self.settings.crypto_suite, self.settings.require_signatures
        )
        for owned in [*self.owned.values(), *self.kept.values()]:
            owned.state.signatures = self.signatures
        log.info("the key ring changed: submissions are checked against it from now on")

    async def _goodbye(self) -> None:
        """Leave the group and close the producers, each for a while at most (Kafka may be
        away: then the group notices our absence after the session timeout)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(GOODBYE_S):
                await self.consumer.stop()
        for owned in [*self.owned.values(), *self.kept.values()]:
            self._close(owned)
        self.owned.clear()
        self.kept.clear()
        for recheck in self.rechecks.values():
            recheck.cancel()
        if self.closing:
            await asyncio.wait(self.closing, timeout=GOODBYE_S)

    async def _connect(self, stop: asyncio.Event) -> bool:
        """Wait for Kafka and the topics (an outage at start is no reason to exit); False if
        stopped before they came. Unequal partition counts need an operator: that raises."""

        async def attempt() -> AIOKafkaConsumer:
            self.partition_count = await check_copartitioned(self.settings)
            # At most what our producers send (max_request_size), whatever the topic takes.
            limit = await max_message_bytes(self.settings, self.settings.deadletter_topic)
            self.dead_letter_limit = min(limit, DEAD_LETTER_MAX_BYTES)
            # The listener works on self.consumer, and may be called before start() returns.
            self.consumer = self._consumer()
            return await started(self.consumer)

        waiting = f"waiting for Kafka at {self.settings.kafka_bootstrap}"
        backoff = Backoff(first=1.0, cap=10.0)
        return await keep_trying(attempt, waiting, log, stop, unreachable, backoff) is not None

    # --- partition ownership -------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        async with self.lock:
            for tp in revoked:
                self.pending.pop(tp.partition, None)
                owned = self.owned.pop(tp.partition, None)
                if owned is not None:
                    self.kept[tp.partition] = owned

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        # No await here: the main loop sees either all of this or none of it.
        now = time.monotonic()
        for tp in assigned:
            kept = self.kept.pop(tp.partition, None)
            if kept is not None:
                # Ours before and ours again: if someone else had it meanwhile, their producer
                # fenced ours and the next batch fails over to a fresh take-over.
                self.owned[tp.partition] = kept
            elif tp.partition not in self.owned:
                self.pending[tp.partition] = now
        for kept in self.kept.values():
            self._close(kept)
        self.kept.clear()
        # A refused partition that comes back is checked again at once (pending); one that
        # went elsewhere is its new owner's to refuse.
        for partition in list(self.refused):
            self._stop_recheck(partition)
            if partition not in self.pending:
                del self.refused[partition]
        # Positions last: aiokafka logs and swallows a listener's exception, so the bookkeeping
        # above must hold even if one of these fails (a take-over seeks and resumes anyway).
        for tp in assigned:
            if tp.partition in self.pending:
                self.consumer.pause(tp)
            else:
                self.consumer.seek(tp, self.owned[tp.partition].next_offset)

    async def _take_over_due(self) -> None:
        if not any(at <= time.monotonic() for at in self.pending.values()):
            return
        async with self.lock:
            due = [p for p, at in self.pending.items() if at <= time.monotonic()]
            await _each(self._take_over(p) for p in due)

    async def _take_over(self, partition: int) -> None:
        tp = TopicPartition(self.settings.submissions_topic, partition)
        producer = AIOKafkaProducer(
            **client_options(self.settings),
            transactional_id=f"{self.settings.decider_group}.p{partition}",
            enable_idempotence=True,
            acks="all",
            # CONCURRENT_TRANSACTIONS (the previous commit still writing its markers) is retried
            # after this: the default 100 ms would dominate the latency of back-to-back batches.
            retry_backoff_ms=10,
            # Dead letters carry a refused record whole, plus headers (the topic allows it).
            max_request_size=DEAD_LETTER_MAX_BYTES,
        )
        try:
            # Starting the producer initialises its transactional id: any earlier owner of this
            # partition is fenced and its open transaction completed before we read the log.
            await producer.start()
            state = self._new_state(partition)
            replay = await self._replay(partition, state)
            events_next = await self._end_of_events(partition)
            next_offset = await self.consumer.committed(tp)
            if next_offset is None:
                next_offset = (await self.consumer.beginning_offsets([tp]))[tp]
        except Exception as error:
            delay = self._backoff(partition).next_delay()
            log.warning(
                "partition %d: take-over failed (%s: %s); trying again in %.0f s",
                partition,
                type(error).__name__,
                error,
                delay,
            )
            self.pending[partition] = time.monotonic() + delay
            self._close_producer(producer)
            return
        if partition not in self.pending or tp not in self.consumer.assignment():
            self._close_producer(producer)  # no longer ours
            return
        if replay.refusal is not None:
            self._close_producer(producer)  # holds no transaction: nothing is written
            self._refuse(partition, replay.refusal)
            return
        del self.pending[partition]
        self.distrusted.discard(partition)
        if self.refused.pop(partition, None) is not None:
            log.warning("partition %d: the log verifies again; serving it", partition)
        every = self.settings.decider_snapshot_every
        self.owned[partition] = OwnedPartition(
            partition,
            producer,
            state,
            replay.chain,
            next_offset,
            checkpoint_offset=replay.checkpoint_offset,
            outcomes_next=replay.outcomes_next,
            events_next=events_next,
            # A long fold is worth a snapshot at once: the next take-over skips it.
            snapshot_due=0 if replay.replayed >= every else every - replay.replayed,
            stale=replay.stale,
            replayed=replay.replayed,
            from_snapshot=replay.from_snapshot,
        )
        self.consumer.seek(tp, next_offset)
        self.consumer.resume(tp)
        log.info(
            "partition %d taken over: %d events%s folded, deciding from offset %d",
            partition,
            replay.replayed,
            " after its snapshot" if replay.from_snapshot else "",
            next_offset,
        )

    def _new_state(self, partition: int) -> PartitionState:
        return PartitionState(
            self.officers,
            self.signatures,
            partition=partition,
            partition_of=partitioner(self.partition_count),
            max_bytes=self.settings.max_body_bytes,
            suite=self.settings.crypto_suite,
            sealer=Sealer(self.settings.crypto_suite) if self.settings.seal_personal_data else None,
            hot_cases=self.settings.decider_hot_cases if self.case_store is not None else 0,
        )

    async def _replay(self, partition: int, state: PartitionState | None) -> Replay:
        """The partition's chain from its events, checked against its latest checkpoint signed
        with a key of the ring, and (with a ``state``) the partition's state: loaded from its
        snapshot and folded from the events and outcomes after it, or, without a snapshot that
        agrees with the log, folded from all of them. Says why the partition must be refused,
        if it must.

        Records that cannot be read or folded are skipped with an error where they do not make
        the partition refused (only the decider writes these topics: someone else put them
        there, and ``casetrail verify`` names them). Without a ``state``: a quiet check of the
        whole partition."""
        try:
            self.signer.check(datetime.now(UTC))
        except SigningKeyNotTrusted as error:
            return Replay(Refusal(SIGNING_KEY_NOT_TRUSTED, str(error)), self._chain())
        if state is not None and self.settings.decider_snapshot_every:
            store = self.case_store
            if store is not None and partition in self.distrusted:
                await store.forget(partition)  # copied again after the whole fold
            elif store is not None:
                try:
                    stored = await self._stored_snapshot(partition, store)
                except Exception as error:
                    if not is_transient(error):
                        raise
                    # PostgreSQL away: the snapshot as the topic holds it, every case in
                    # memory, as before the case store (the decider needs PostgreSQL only for
                    # persons' keys); evicted again once a snapshot is copied.
                    log.warning(
                        "partition %d: the case store is unavailable (%s); its snapshot is"
                        " read whole",
                        partition,
                        describe(error),
                    )
                    store = None
                else:
                    if stored is not None:
                        # No case is read until the log after it or a submission names it.
                        state.cold, state.case_count = True, stored[0].cases
                        return await self._fold_after(partition, state, *stored)
            snapshot = await self._read_snapshot(partition)
            # The checkpoints from the snapshot's on: read once, to check it and the tail.
            begin = snapshot.head.checkpoint_offset if snapshot.head is not None else -1
            checkpoints = await self._checkpoints(partition, begin, loud=True)
            problem = snapshot.problem(partition) or await self._head_problem(
                partition, snapshot.head, checkpoints
            )
            cases = None
            if problem is None and store is None:
                try:
                    cases = snapshot.cases()
                except ValueError as error:
                    problem = str(error)
            if cases is not None and snapshot.head is not None:
                # With the case store away, kept in memory until it has copied a snapshot.
                state.load(cases, kept=self.case_store is not None)
                state.case_count = len(cases)
                return await self._fold_after(partition, state, snapshot.head, checkpoints)
            if snapshot.head is not None:
                log.warning(
                    "partition %d: its snapshot is not used (%s); folding its whole log",
                    partition,
                    problem or "its copy in the case store did not read",
                )
            whole = checkpoints if snapshot.head is None else None  # all of them, then
            replay = await self._fold(partition, state, self._chain(), 0, whole)
            return replace(replay, stale=frozenset(snapshot.keys))
        return await self._fold(partition, state, self._chain(), 0)

    async def _fold_after(
        self,
        partition: int,
        state: PartitionState,
        head: Head,
        checkpoints: list[tuple[int, Checkpoint]],
    ) -> Replay:
        """The take-over from a snapshot: the events and outcomes after its head folded."""
        start = self._chain(head.chain_head, head.chain_count, head.chain_last_offset)
        replay = await self._fold(partition, state, start, head.outcomes_from, checkpoints)
        return replace(replay, from_snapshot=True)

    async def _stored_snapshot(
        self, partition: int, store: PgCaseStore
    ) -> tuple[Head, list[tuple[int, Checkpoint]]] | None:
        """The head of the snapshot as the case store copied it (caught up with the topic
        first), checked against the log and the signed checkpoints, and those checkpoints from
        its on. None: no snapshot to use (none, or one that does not agree with the log)."""
        await store.catch_up(self.settings, partition)
        stored = await store.head(partition)
        head, unreadable = stored_head(stored.value)
        begin = head.checkpoint_offset if head is not None else -1
        checkpoints = await self._checkpoints(partition, begin, loud=True)
        problem = unreadable or await self._head_problem(partition, head, checkpoints)
        if problem is None and head is not None and head.cases != stored.cases:
            problem = f"its head counts {head.cases} cases, the case store {stored.cases}"
            log.warning("partition %d: its copied snapshot is not used (%s)", partition, problem)
        if problem is not None or head is None:
            if stored.value is not None:
                await store.forget(partition)  # copied again, from the topic, after the fold
            return None  # the snapshot on the topic is read whole, and says why if it is unused
        return head, checkpoints

    async def _read_snapshot(self, partition: int) -> Snapshot:
        snapshot = Snapshot()
        tps = [TopicPartition(self.settings.snapshots_topic, partition)]
        async for record in read_to_end(self.settings, tps):
            snapshot.record(record.key, record.value)
        return snapshot

    async def _head_problem(
        self, partition: int, head: Head | None, checkpoints: list[tuple[int, Checkpoint]]
    ) -> str | None:
        """Why the snapshot with this head must not be used: the log does not hold the events
        it says it covers, as the checkpoint at its count signed them (one of ``checkpoints``,
        read from its offset on)."""
        if head is None:
            return "no snapshot"
        if head.partition != partition:
            return f"its head names partition {head.partition}"
        end = await self._end_of_events(partition)
        if end < head.events_from:
            covered = head.chain_last_offset
            return f"it covers the events up to offset {covered}, the log ends at {end}"
        if head.chain_count == 0:
            return None
        for offset, checkpoint in checkpoints[:1]:
            if offset == head.checkpoint_offset:
                signed = (checkpoint.head, checkpoint.count, checkpoint.offset)
                if signed == (head.chain_head, head.chain_count, head.chain_last_offset):
                    return None
                break
        return f"no checkpoint signed with a key of the ring at offset {head.checkpoint_offset}"

    async def _end_of_events(self, partition: int) -> int:
        """Where the next event of the partition goes (its producer started: the previous
        owner's transaction is complete, so the stable end is the end)."""
        events = TopicPartition(self.settings.events_topic, partition)
        async with committed_consumer(self.settings) as consumer:
            return int((await consumer.end_offsets([events]))[events])

    async def _checkpoints(
        self, partition: int, begin: int, loud: bool = False
    ) -> list[tuple[int, Checkpoint]]:
        """The partition's checkpoints from offset ``begin`` (-1: all) signed with a key of the
        ring, each covering more events than the one before, with their offsets."""
        ring = self.signer.ring
        found: list[tuple[int, Checkpoint]] = []
        tp = TopicPartition(self.settings.checkpoints_topic, partition)
        async for record in read_to_end(self.settings, [tp], {tp: max(begin, 0)}):
            if read_declaration(record.value or b"") is not None:
                continue  # the log's suite declaration, checked before serving anything
            checkpoint = _read(Checkpoint, record, loud)
            if checkpoint is None or (found and checkpoint.count <= found[-1][1].count):
                continue
            where = (record.topic, record.partition, record.offset)
            if checkpoint.partition != partition:
                if loud:
                    log.error("%s p%d@%d: a checkpoint of another partition, skipped", *where)
                continue
            problem = untrusted(checkpoint, ring, self.settings.crypto_suite)
            if problem is not None:
                if loud:
                    log.error("%s p%d@%d skipped: %s", *where, problem)
                continue
            found.append((record.offset, checkpoint))
        return found

    async def _fold(
        self,
        partition: int,
        state: PartitionState | None,
        start: PartitionChain,
        outcomes_from: int,
        checkpoints: list[tuple[int, Checkpoint]] | None = None,
    ) -> Replay:
        """Check the events after ``start`` against the latest signed checkpoint (of
        ``checkpoints``, read already; else of all) and (with a ``state``) fold them, and the
        outcomes from ``outcomes_from``, into it."""
        loud = state is not None
        # Only the latest trusted checkpoint counts here: a partition gets one per transaction.
        # Earlier ones are verify's to compare with the log.
        if checkpoints is None:
            checkpoints = await self._checkpoints(partition, -1, loud)
        latest = checkpoints[-1] if checkpoints else None
        audit = PartitionAudit(
            partition,
            [] if latest is None else [latest[1]],
            (start.head, start.count, start.last_offset),
            suite=self.settings.crypto_suite,
        )
        events = TopicPartition(self.settings.events_topic, partition)
        outcomes = TopicPartition(self.settings.outcomes_topic, partition)
        tps, begin = [events], {events: start.last_offset + 1}
        if state is not None:
            tps.append(outcomes)
            begin[outcomes] = outcomes_from
        outcomes_next, replayed = outcomes_from, 0
        async for records in _chunks(read_to_end(self.settings, tps, begin), FOLD_CHUNK):
            if state is not None and state.cold:
                # Their cases as the snapshot left them, before the log after it changes them.
                keys = {r.key.decode(errors="replace") for r in records if r.key is not None}
                await self._load(partition, state, ((None, key) for key in keys))
            for record in records:
                if record.topic == self.settings.events_topic:
                    if audit.event(record.offset, record.value or b"") is None or state is None:
                        continue
                    event = _read(Event, record)
                    if event is not None and _replayed(state.replay_event, event, record):
                        replayed += 1
                elif state is not None:
                    outcomes_next = record.offset + 1
                    outcome = _read(Outcome, record)
                    if outcome is not None:
                        state.replay_outcome(outcome)
        chain = self._chain(audit.head, audit.count, audit.last_offset)
        refusal = audit.refusal()
        if refusal is not None:
            return Replay(Refusal(refusal.kind.value, str(refusal)), chain)
        for problem in audit.problems if loud else ():
            # Junk before the latest checkpoint, which matches the log and covers it all.
            log.error("partition %d: %s, skipped", partition, problem)
        checkpoint_offset = latest[0] if latest is not None else -1
        return Replay(None, chain, checkpoint_offset, outcomes_next, replayed)

    def _refuse(self, partition: int, refusal: Refusal) -> None:
        """Leave the partition paused, unserved, and check it again in the background."""
        earlier = self.refused.get(partition)
        if earlier is not None:
            refusal = replace(refusal, since=earlier.since)
        self.refused[partition] = refusal
        self.pending.pop(partition, None)
        log.error(
            "partition %d REFUSED: %s. Nothing is decided or signed for it until its log"
            " verifies (checked again every %.0f s); 'casetrail verify' names the records, the"
            " README says what to do ('When the decider refuses a partition')",
            partition,
            refusal.reason,
            self.settings.decider_refusal_retry_s,
        )
        self._stop_recheck(partition)
        self.rechecks[partition] = asyncio.create_task(self._recheck(partition))

    async def _recheck(self, partition: int) -> None:
        """Check a refused partition every few seconds, away from the main loop (a long
        partition must not hold the others up); once it verifies, it is taken over afresh,
        which checks it again after fencing."""
        while True:
            await asyncio.sleep(self.settings.decider_refusal_retry_s)
            try:
                refusal = (await self._replay(partition, None)).refusal
            except Exception as error:
                log.warning("partition %d: checking it again failed: %s", partition, error)
                continue
            earlier = self.refused.get(partition)
            if earlier is None:
                return  # no longer ours
            if refusal is not None:
                self.refused[partition] = replace(refusal, since=earlier.since)
                log.error("partition %d still refused: %s", partition, refusal.reason)
                continue
            tp = TopicPartition(self.settings.submissions_topic, partition)
            if tp in self.consumer.assignment():
                self.pending[partition] = time.monotonic()
            self.rechecks.pop(partition, None)
            return

    def _stop_recheck(self, partition: int) -> None:
        recheck = self.rechecks.pop(partition, None)
        if recheck is not None:
            recheck.cancel()

    def _release(self, owned: OwnedPartition, error: BaseException) -> None:
        """Deciding failed: drop the partition's producer and state, take it over afresh later."""
        partition = owned.partition
        delay = self._backoff(partition).next_delay()
        log.warning(
            "partition %d: deciding failed (%s: %s); taking it over again in %.0f s%s",
            partition,
            type(error).__name__,
            error,
            delay,
            # A release before this one did not let the decider write submissions (forwards).
            "; the decider's Kafka user lacks an ACL: run 'casetrail infra init' to grant them"
            if isinstance(error, TopicAuthorizationFailedError)
            else "",
        )
        self.owned.pop(partition, None)
        self._close(owned)
        tp = TopicPartition(self.settings.submissions_topic, partition)
        if tp in self.consumer.assignment():
            self.consumer.pause(tp)
            self.pending[partition] = time.monotonic() + delay

    def _backoff(self, partition: int) -> Backoff:
        """1 s, 2 s, 4 s … at most 30 s between take-overs of a partition that keeps failing;
        forgotten once a batch of it commits."""
        return self.backoffs.setdefault(partition, Backoff(first=1.0, cap=30.0))

    def _close(self, owned: OwnedPartition) -> None:
        owned.state.abort()
        self._close_producer(owned.producer)

    def _close_producer(self, producer: AIOKafkaProducer) -> None:
        """Stop a producer in the background: with Kafka away that can take a while, and no
        partition should wait for another's goodbye."""

        async def close() -> None:
            try:
                async with asyncio.timeout(60):
                    await producer.stop()
            except Exception as error:
                log.debug("closing a producer: %s", error)

        task = asyncio.create_task(close())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    # --- deciding -----------------------------------------------------------------------

    async def _decide_batch(self, tp: TopicPartition, records: list[Record]) -> None:
        owned = self.owned.get(tp.partition)
        if owned is None:
            return  # not ours, or not yet: paused until taken over, which seeks back
        # Records before next_offset were fetched before the take-over's seek: decided already.
        records = [r for r in records if r.offset >= owned.next_offset]
        if not records:
            return
        try:
            if owned.state.cold:
                named = (attribution(r.value or b"") for r in records)
                await self._load(tp.partition, owned.state, (n for n in named if n is not None))
            try:
                written = await self._write(owned, tp, records, datetime.now(UTC))
            except UnforeseenOffset as error:
                # A record someone else wrote (the transaction aborted, as before the decider
                # foresaw offsets, the batch is decided again after it; the chain never covers
                # it, so ``casetrail verify`` and the next take-over judge it). Twice: release.
                log.warning("partition %d: %s; deciding the batch again", tp.partition, error)
                owned.events_next = error.next_offset
                written = await self._write(owned, tp, records, datetime.now(UTC))
        except Exception as error:
            if isinstance(error, StoredCaseUnreadable):
                self.distrusted.add(tp.partition)
            self._release(owned, error)
            return
        owned.state.commit(snapshotted=written.snapshotted)
        owned.chain = written.chain
        owned.checkpoint_offset = written.checkpoint_offset
        owned.outcomes_next = written.outcomes_next
        owned.events_next = written.events_next
        owned.next_offset = records[-1].offset + 1
        if written.snapshotted:
            owned.snapshot_due = self.settings.decider_snapshot_every
            owned.stale = frozenset()
            await self._copy_snapshot(owned)
        else:
            owned.snapshot_due -= len(records)
        owned.state.evict()
        self.backoffs.pop(owned.partition, None)
        self.activity.forwarded += written.forwarded
        log.debug(
            "partition %d: %d submissions decided, %d of them forwarded",
            tp.partition,
            len(records),
            written.forwarded,
        )

    async def _load(
        self,
        partition: int,
        state: PartitionState,
        named: Iterable[tuple[uuid.UUID | None, str]],
    ) -> None:
        """Load from the case store the cases named (and those of the submission_ids named)
        that are not in memory: the state decides on every case as if it had kept them all.

        With the store unavailable (PostgreSQL away), every case not in memory is loaded from
        the snapshot on the topic, read whole: the cases not in memory are those unchanged
        since it, so it holds them as they are. The decider then needs PostgreSQL only for
        persons' keys, as before the case store, until a snapshot is copied again."""
        cases, submissions = state.to_load(named)
        if not (cases or submissions) or self.case_store is None:
            return
        try:
            records = await self.case_store.cases(partition, cases, submissions)
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning(
                "partition %d: the case store is unavailable (%s); its snapshot is read whole",
                partition,
                describe(error),
            )
            snapshot = await self._read_snapshot(partition)
            problem = snapshot.problem(partition)
            if problem is not None:
                raise StoredCaseUnreadable(f"its snapshot on the topic: {problem}") from error
            state.load(snapshot.cases(), kept=True)
            state.cold = False
            return
        state.load(stored_cases(records))

    async def _copy_snapshot(self, owned: OwnedPartition) -> None:
        """Have the case store copy the snapshot just committed; until it has, no case of it
        is evicted (a failure is retried at the next snapshot, or by the next take-over)."""
        if self.case_store is None:
            return
        try:
            await self.case_store.catch_up(self.settings, owned.partition)
        except Exception as error:
            log.warning(
                "partition %d: the case store did not copy its snapshot (%s: %s); its cases"
                " stay in memory until it does",
                owned.partition,
                type(error).__name__,
                error,
            )
            return
        owned.state.copied()

    def _store_keys(self, state: PartitionState) -> "asyncio.Future[None]":
        """The keys the batch's sealing made, being put in the key store."""
        keys = state.sealer.take() if state.sealer is not None else []
        if not keys or self.keystore is None:
            return _nothing()
        return asyncio.ensure_future(self.keystore.put(keys))

    async def _write(
        self, owned: OwnedPartition, tp: TopicPartition, records: list[Record], now: datetime
    ) -> Written:
        """One transaction: the batch's events, outcomes, dead letters and forwarded
        submissions, a signed checkpoint covering the events (if any), a snapshot when one is
        due, and the consumed offset."""
        state, producer, p = owned.state, owned.producer, tp.partition
        chain = owned.chain
        batch = telemetry.Batch(p, len(records))
        try:
            async with producer.transaction():
                written: list[tuple[str, asyncio.Future[RecordMetadata]]] = []
                answered: list[asyncio.Future[RecordMetadata]] = []
                sent: list[asyncio.Future[RecordMetadata]] = []
                forwarded = 0
                for record in records:
                    started = time.perf_counter()
                    decision = state.decide_record(
                        record.value, now, record.key, forwarded_from(record)
                    )
                    if decision.forward is not None:
                        # Its headers as they came: a trace context goes on with it.
                        future = await producer.send(
                            self.settings.submissions_topic,
                            record.value,
                            key=decision.forward.case_id.encode(),
                            partition=decision.forward.partition,
                            headers=forward_headers(record),
                        )
                        sent.append(future)
                        forwarded += 1
                        continue
                    # Trace context (traces on): headers only, the values are as they were.
                    headers = batch.decided(record, decision, started)
                    for event in decision.events:
                        future = await producer.send(
                            self.settings.events_topic,
                            event.model_dump_json().encode(),
                            key=event.case_id.encode(),
                            partition=p,
                            headers=headers,
                        )
                        written.append((event.hash, future))
                    if decision.outcome is not None:
                        future = await producer.send(
                            self.settings.outcomes_topic,
                            decision.outcome.model_dump_json().encode(),
                            key=decision.outcome.case_id.encode(),
                            partition=p,
                            headers=headers,
                        )
                        answered.append(future)
                    else:
                        key, value, headers = dead_letter(
                            record, decision.dead_letter_reason or "", self.dead_letter_limit
                        )
                        future = await producer.send(
                            self.settings.deadletter_topic, value, key=key, headers=headers
                        )
                    sent.append(future)
                # The new keys are durable before the events commit (a committed event whose
                # key was lost could never be read), stored while Kafka takes the batch; keys
                # of a transaction that then aborts stay unused.
                storing = self._store_keys(state)
                signing: asyncio.Future[RecordMetadata] | None = None
                try:
                    last = owned.events_next + len(written) - 1
                    if written:
                        # The checkpoint commits with the events: no reader ever sees them
                        # uncovered. It is sent with them, their offsets foreseen (no other
                        # writer; checked below), not after waiting for the broker to say.
                        chain = chain.extended([h for h, _ in written], last)
                        signed = self.signer.sign(
                            p, chain.last_offset, chain.count, chain.head, now
                        )
                        signing = await producer.send(
                            self.settings.checkpoints_topic,
                            signed.record(),
                            key=str(p).encode(),
                            partition=p,
                        )
                        sent.append(signing)
                    # aiokafka commits a transaction even if one of its records was refused:
                    # every record must be in before the offsets say the batch is done.
                    await asyncio.gather(storing, *sent, *(future for _, future in written))
                except BaseException:
                    storing.cancel()
                    raise
                if written and written[-1][1].result().offset != last:
                    # Someone else appended to the partition: abort, and let the take-over
                    # read the log as it is (and refuse it if no decider wrote the rest).
                    raise UnforeseenOffset(written[-1][1].result().offset, last)
                after = Written(
                    chain,
                    signing.result().offset if signing is not None else owned.checkpoint_offset,
                    answered[-1].result().offset + 1 if answered else owned.outcomes_next,
                    # After the commit marker that follows the last event.
                    last + 2 if written else owned.events_next,
                    snapshotted=False,
                    forwarded=forwarded,
                )
                if self.settings.decider_snapshot_every and (
                    owned.snapshot_due - len(records) <= 0 or state.crowded()
                ):
                    after = await self._snapshot(owned, after, records[-1].offset + 1, now)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self.settings.decider_group
                )
        except BaseException as error:
            batch.failed(error)
            state.abort()
            raise
        batch.committed()
        return after

    async def _snapshot(
        self, owned: OwnedPartition, after: Written, submissions_next: int, now: datetime
    ) -> Written:
        """Write the partition's snapshot in the transaction under way: the cases changed since
        the last one, then the head. A record too large for the topic skips it (logged): the
        batch must commit whatever its snapshot does."""
        state, chain = owned.state, after.chain
        records: list[tuple[bytes, bytes | None]] = [
            *((key, None) for key in owned.stale),
            *state.snapshot(),
        ]
        largest = max((len(value or b"") for _, value in records), default=0)
        if largest > SNAPSHOT_RECORD_BYTES:
            log.error(
                "partition %d: no snapshot, a case's record would be %d bytes (at most %d);"
                " take-overs fold the log after the last one",
                owned.partition,
                largest,
                SNAPSHOT_RECORD_BYTES,
            )
            return after
        head = head_record(
            owned.partition,
            (chain.head, chain.count, chain.last_offset),
            after.checkpoint_offset,
            after.outcomes_next,
            submissions_next,
            state.known_cases(),
            now,
        )
        topic, p = self.settings.snapshots_topic, owned.partition
        sent = [await owned.producer.send(topic, v, key=k, partition=p) for k, v in records]
        sent.append(await owned.producer.send(topic, head, key=HEAD_KEY, partition=p))
        await asyncio.gather(*sent)
        return replace(after, snapshotted=True)


class UnforeseenOffset(Exception):
    """An event is not where the decider foresaw it: something else writes the partition."""

    def __init__(self, actual: int, foreseen: int):
        super().__init__(f"the batch's last event is at offset {actual}, not {foreseen}")
        self.next_offset = actual + 2
        """Where the next event goes: after the batch's records and its abort marker."""


SNAPSHOT_RECORD_BYTES = DEAD_LETTER_MAX_BYTES - 64 * 1024
"""The largest snapshot record sent: the topic takes DEAD_LETTER_MAX_BYTES, with room for
Kafka's framing."""


FOLD_CHUNK = 2_000
"""Records of the log folded together at a take-over: their cases are loaded in one query."""


async def _chunks(records: AsyncIterator[Record], size: int) -> AsyncIterator[list[Record]]:
    chunk: list[Record] = []
    async for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _nothing() -> "asyncio.Future[None]":
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


def dead_letter(
    record: Record, reason: str, limit: int
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """A refused record as a dead letter (key, value, headers): its bytes as they came, and where
    it came from and why it was refused in headers (as Kafka Connect's dead-letter queues do).
    Cut to fit ``limit`` (the dead-letter topic's max.message.bytes) if it must, saying so; the
    original stays on its topic, at the offset the headers name."""
    headers = [
        ("casetrail.error", reason[:2000].encode()),
        ("casetrail.topic", record.topic.encode()),
        ("casetrail.partition", str(record.partition).encode()),
        ("casetrail.offset", str(record.offset).encode()),
    ]
    key = record.key if record.key is None or len(record.key) <= 1024 else None
    value = record.value or b""
    room = limit - HEADROOM_BYTES - len(key or b"")
    if len(value) > room:
        headers.append(("casetrail.truncated_from", str(len(value)).encode()))
        value = value[:room]
    return key, value, headers


def forwarded_from(record: Record) -> str | None:
    """Where a decider forwarded this submission from (its ``FORWARDED_FROM`` header)."""
    for name, value in record.headers or ():
        if name == FORWARDED_FROM:
            return (value or b"").decode(errors="replace")[:100]
    return None


def forward_headers(record: Record) -> list[tuple[str, bytes | None]]:
    """A forwarded submission's headers: its own, as they came, and where it arrived."""
    here = f"{record.partition}@{record.offset}".encode()
    return [*(record.headers or ()), (FORWARDED_FROM, here)]


HEADROOM_BYTES = 16 * 1024
"""What a dead letter leaves under the topic's limit for its headers and Kafka's framing."""


T = TypeVar("T", Event, Outcome, Checkpoint)


def _read(model: type[T], record: Record, loud: bool = True) -> T | None:
    try:
        return model.model_validate_json(record.value or b"")
    except Exception as error:
        if not loud:
            return None
        log.error(
            "%s p%d@%d is not a valid %s, skipped: %s",
            record.topic,
            record.partition,
            record.offset,
            model.__name__,
            str(error)[:500],
        )
        return None


def _replayed(replay: Callable[[Event], None], event: Event, record: Record) -> bool:
    try:
        replay(event)
        return True
    except Exception as error:
        log.error(
            "%s p%d@%d cannot be folded into its case, skipped: %s: %s",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__,
            error,
        )
        return False


async def _same_master(keystore: PgKeyStore) -> None:
    """MasterKeyError (the decider does not start) if the key store's keys were wrapped by
    another master key. With PostgreSQL away, the first batch that stores keys checks it."""
    try:
        await keystore.check_master()
    except MasterKeyError:
        raise
    except Exception as error:
        log.warning("key store: master key not checked yet (%s: %s)", type(error).__name__, error)


async def _each(tasks: Iterable[Awaitable[None]]) -> None:
    """Run side by side and wait for all: none may be left running when the lock is let go."""
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, BaseException):
            log.error("unexpected: %s", result, exc_info=result)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run(settings: Settings, stop: asyncio.Event) -> None:
    await Decider(settings).run(stop)
