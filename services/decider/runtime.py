"""The decider: the single writer of the log.

For every partition p of the submissions topic it owns, it keeps a transactional producer whose
transactional id names p (so a successor taking p over fences it), rebuilds the state of
partition p from the events and outcomes topics, and then writes, per batch of submissions, the
events, the outcomes and the consumed offsets in one Kafka transaction. Events and outcomes go to
partition p of their topics, so the state a decider needs always lives in the partitions it owns.
"""

import asyncio
import base64
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from events.model import Event, Outcome
from services.decider.partition import PartitionState
from services.kafka import check_copartitioned, read_to_end
from services.officers import load_officers
from services.settings import Settings

log = logging.getLogger("casetrail.decider")


class OwnedPartition:
    def __init__(self, partition: int, producer: AIOKafkaProducer, state: PartitionState):
        self.partition = partition
        self.producer = producer
        self.state = state


class Decider(ConsumerRebalanceListener):
    def __init__(self, settings: Settings):
        self.settings = settings
        self.officers = load_officers(settings.officers_file)
        self.owned: dict[int, OwnedPartition] = {}
        self.consumer = AIOKafkaConsumer(
            settings.submissions_topic,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=settings.decider_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )

    async def run(self, stop: asyncio.Event) -> None:
        await check_copartitioned(self.settings)
        self.consumer.subscribe([self.settings.submissions_topic], listener=self)
        await self.consumer.start()
        log.info("decider started, group %s", self.settings.decider_group)
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=200, max_records=2000)
                # Each partition has its own producer and state: their transactions overlap.
                await asyncio.gather(
                    *(self._decide_batch(tp, records) for tp, records in batches.items())
                )
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
        )
        # Starting the producer initialises its transactional id: any earlier owner of this
        # partition is fenced and its open transaction aborted before we read the log.
        await producer.start()
        state = PartitionState(self.officers)
        replayed = 0
        topics = [
            TopicPartition(self.settings.events_topic, partition),
            TopicPartition(self.settings.outcomes_topic, partition),
        ]
        async for record in read_to_end(self.settings.kafka_bootstrap, topics):
            if record.value is None:
                continue
            if record.topic == self.settings.events_topic:
                state.replay_event(Event.model_validate_json(record.value))
                replayed += 1
            else:
                state.replay_outcome(Outcome.model_validate_json(record.value))
        log.info("partition %d taken over: %d events replayed", partition, replayed)
        return OwnedPartition(partition, producer, state)

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
        try:
            async with producer.transaction():
                for record in records:
                    decision = state.decide_record(record.value, now)
                    for event in decision.events:
                        await producer.send(
                            self.settings.events_topic,
                            event.model_dump_json().encode(),
                            key=event.case_id.encode(),
                            partition=p,
                        )
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
                await producer.send_offsets_to_transaction(
                    {tp: records[-1].offset + 1}, self.settings.decider_group
                )
        except BaseException:
            state.abort()
            raise
        state.commit()
        log.debug("partition %d: %d submissions decided", p, len(records))


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
