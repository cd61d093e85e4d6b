"""The decider: the single writer of the log.

For every partition p of the submissions topic it owns, it keeps a transactional producer whose
transactional id names p (so a successor taking p over fences it), rebuilds the state of
partition p from the events and outcomes topics, and then writes, per batch of submissions, the
events, the outcomes and the consumed offsets in one Kafka transaction. Events and outcomes go to
partition p of their topics, so the state a decider needs always lives in the partitions it owns.

It also chains every event of partition p (``events.hashing.partition_chain``) and, every N
events or T seconds, publishes a checkpoint of the chain signed with its Ed25519 key to
partition p of the checkpoints topic, in the same transaction as the events it covers.
"""

import asyncio
import base64
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ProducerFenced
from aiokafka.structs import RecordMetadata
from pydantic import ValidationError

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event, Outcome
from services.adapters.kafka import check_copartitioned, partitioner, read_to_end
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.integrity.checkpoints import Checkpoint, load_private_key, sign
from services.settings import Settings

log = logging.getLogger("casetrail.decider")


@dataclass(frozen=True)
class PartitionChain:
    """The chain over one partition of the events topic, and its last checkpoint."""

    head: str = GENESIS_HASH
    count: int = 0
    last_offset: int = -1
    checkpointed_count: int = 0
    checkpointed_at: float = field(default_factory=time.monotonic)

    def extended(self, event_hashes: list[str], last_offset: int) -> "PartitionChain":
        head = self.head
        for event_hash in event_hashes:
            head = partition_chain(head, event_hash)
        return replace(
            self, head=head, count=self.count + len(event_hashes), last_offset=last_offset
        )

    def due(self, every_events: int, every_s: float) -> bool:
        new = self.count - self.checkpointed_count
        waited = time.monotonic() - self.checkpointed_at
        return new >= every_events or (new > 0 and waited >= every_s)

    def checkpointed(self) -> "PartitionChain":
        return replace(self, checkpointed_count=self.count, checkpointed_at=time.monotonic())


@dataclass
class Activity:
    """What the decider did lately, logged every minute: enough to see where time goes."""

    submissions: int = 0
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
                "%d submissions in %d rounds (%.0f per round); %.1f ms fetching and %.1f ms"
                " deciding and committing per round",
                self.submissions,
                self.rounds,
                self.submissions / self.rounds,
                self.fetching / self.rounds * 1000,
                self.deciding / self.rounds * 1000,
            )
            self.submissions = self.rounds = 0
            self.fetching = self.deciding = 0.0
            self.since = time.monotonic()


@dataclass
class OwnedPartition:
    partition: int
    producer: AIOKafkaProducer
    state: PartitionState
    chain: PartitionChain


class Decider(ConsumerRebalanceListener):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.officers = load_officers(settings.officers_file)
        self.signing_key = load_private_key(settings.signing_key_path)
        self.owned: dict[int, OwnedPartition] = {}
        self.partition_count = 0
        self.consumer = AIOKafkaConsumer(
            settings.submissions_topic,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.decider_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=settings.decider_session_timeout_ms,
            heartbeat_interval_ms=settings.decider_session_timeout_ms // 3,
        )

    async def run(self, stop: asyncio.Event) -> None:
        self.partition_count = await check_copartitioned(self.settings)
        self.consumer.subscribe([self.settings.submissions_topic], listener=self)
        await self.consumer.start()
        log.info("decider started, group %s", self.settings.decider_group)
        activity = Activity()
        try:
            while not stop.is_set():
                waited = time.perf_counter()
                batches = await self.consumer.getmany(timeout_ms=200, max_records=2000)
                started = time.perf_counter()
                # Each partition has its own producer and state: their transactions overlap.
                await asyncio.gather(
                    *(self._decide_batch(tp, records) for tp, records in batches.items())
                )
                await asyncio.gather(*(self._checkpoint_if_due(o) for o in self.owned.values()))
                activity.add(batches, started - waited, time.perf_counter() - started)
        except ProducerFenced:
            # We stalled and another decider took our partitions over: nothing we wrote since
            # is visible. Exit; whoever supervises us starts a fresh decider.
            log.error("fenced by a newer decider for one of our partitions: leaving the group")
            raise
        finally:
            await self.consumer.stop()
            await self._release(list(self.owned))

    # --- partition ownership -------------------------------------------------------------

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        for tp in assigned:
            if tp.partition not in self.owned:
                self.owned[tp.partition] = await self._take_over(tp.partition)

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._release([tp.partition for tp in revoked])

    async def _take_over(self, partition: int) -> OwnedPartition:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            transactional_id=f"{self.settings.decider_group}.p{partition}",
            enable_idempotence=True,
            acks="all",
            # CONCURRENT_TRANSACTIONS (the previous commit still writing its markers) is retried
            # after this: the default 100 ms would dominate the latency of back-to-back batches.
            retry_backoff_ms=10,
        )
        # Starting the producer initialises its transactional id: any earlier owner of this
        # partition is fenced and its open transaction aborted before we read the log.
        await producer.start()
        bootstrap = self.settings.kafka_bootstrap
        last_checkpoint = None
        checkpoints = [TopicPartition(self.settings.checkpoints_topic, partition)]
        async for record in read_to_end(bootstrap, checkpoints):
            last_checkpoint = Checkpoint.model_validate_json(record.value or b"")
        state = PartitionState(
            self.officers, partition=partition, partition_of=partitioner(self.partition_count)
        )
        chain = PartitionChain()
        topics = [
            TopicPartition(self.settings.events_topic, partition),
            TopicPartition(self.settings.outcomes_topic, partition),
        ]
        async for record in read_to_end(bootstrap, topics):
            if record.topic == self.settings.events_topic:
                try:
                    event = Event.model_validate_json(record.value or b"")
                except ValidationError as error:
                    # Only the decider writes here: this record was put in by someone else. It
                    # belongs to no case, so deciding goes on; `casetrail verify` names it.
                    log.error(
                        "partition %d@%d of the log is not an event, skipped: %s",
                        partition,
                        record.offset,
                        error,
                    )
                    continue
                state.replay_event(event)
                chain = chain.extended([event.hash], record.offset)
                if last_checkpoint and chain.count == last_checkpoint.count:
                    _compare(partition, chain, last_checkpoint)
            else:
                state.replay_outcome(Outcome.model_validate_json(record.value or b""))
        if last_checkpoint is not None:
            chain = replace(chain, checkpointed_count=last_checkpoint.count)
        log.info("partition %d taken over: %d events replayed", partition, chain.count)
        return OwnedPartition(partition, producer, state, chain)

    async def _release(self, partitions: list[int]) -> None:
        for partition in partitions:
            owned = self.owned.pop(partition, None)
            if owned is not None:
                await owned.producer.stop()

    # --- deciding -----------------------------------------------------------------------

    async def _decide_batch(
        self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        owned = self.owned.get(tp.partition)
        if owned is None:
            # The fetcher runs while the rebalance listener is still taking the partition over,
            # so records can arrive before we own it. Fetch them again once we do; if the
            # partition was revoked instead, its next owner decides them.
            if tp in self.consumer.assignment():
                self.consumer.seek(tp, records[0].offset)
            return
        state, producer, p = owned.state, owned.producer, tp.partition
        now = datetime.now(UTC)
        chain = owned.chain
        try:
            async with producer.transaction():
                written: list[tuple[str, asyncio.Future[RecordMetadata]]] = []
                for record in records:
                    decision = state.decide_record(record.value, now, record.key)
                    for event in decision.events:
                        sent = await producer.send(
                            self.settings.events_topic,
                            event.model_dump_json().encode(),
                            key=event.case_id.encode(),
                            partition=p,
                        )
                        written.append((event.hash, sent))
                    if decision.outcome is not None:
                        await producer.send(
                            self.settings.outcomes_topic,
                            decision.outcome.model_dump_json().encode(),
                            key=decision.outcome.case_id.encode(),
                            partition=p,
                        )
                    else:
                        await producer.send(
                            self.settings.deadletter_topic,
                            _dead_letter(record, decision.dead_letter_reason or ""),
                            key=record.key,
                        )
                if written:
                    # Offsets are known once the broker has the events (still uncommitted).
                    last = await written[-1][1]
                    chain = chain.extended([h for h, _ in written], last.offset)
                    chain = await self._checkpoint(owned, chain, now, only_if_due=True)
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self.settings.decider_group
                )
        except BaseException:
            state.abort()
            raise
        state.commit()
        owned.chain = chain
        log.debug("partition %d: %d submissions decided", p, len(records))

    async def _checkpoint(
        self, owned: OwnedPartition, chain: PartitionChain, now: datetime, only_if_due: bool
    ) -> PartitionChain:
        """Send a signed checkpoint of ``chain`` in the producer's open transaction."""
        due = chain.due(self.settings.checkpoint_every_events, self.settings.checkpoint_every_s)
        if only_if_due and not due:
            return chain
        checkpoint = sign(
            self.signing_key, owned.partition, chain.last_offset, chain.count, chain.head, now
        )
        await owned.producer.send(
            self.settings.checkpoints_topic,
            checkpoint.model_dump_json().encode(),
            key=str(owned.partition).encode(),
            partition=owned.partition,
        )
        return chain.checkpointed()

    async def _checkpoint_if_due(self, owned: OwnedPartition) -> None:
        """A checkpoint for a partition that has gone quiet, in a transaction of its own."""
        if not owned.chain.due(
            self.settings.checkpoint_every_events, self.settings.checkpoint_every_s
        ):
            return
        async with owned.producer.transaction():
            chain = await self._checkpoint(owned, owned.chain, datetime.now(UTC), only_if_due=False)
        owned.chain = chain


def _compare(partition: int, chain: PartitionChain, checkpoint: Checkpoint) -> None:
    if chain.head != checkpoint.head or chain.last_offset != checkpoint.offset:
        # The log no longer matches what was signed: say so loudly; `casetrail verify` tells
        # the auditor exactly where.
        log.error(
            "partition %d: the log differs from checkpoint at count %d (head %s, signed %s)",
            partition,
            checkpoint.count,
            chain.head,
            checkpoint.head,
        )


def _dead_letter(record: ConsumerRecord[bytes, bytes], reason: str) -> bytes:
    return json.dumps(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "error": reason,
            # base64 keeps bytes that are not UTF-8: a dead letter must be recoverable exactly
            "raw_base64": base64.b64encode(record.value or b"").decode(),
        },
        ensure_ascii=False,
    ).encode()


async def run(settings: Settings, stop: asyncio.Event) -> None:
    await Decider(settings).run(stop)
