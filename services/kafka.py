"""Kafka helpers shared by the services: check the topic layout, read partitions to the end."""

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.settings import Settings


class TopologyError(RuntimeError):
    """The topics are missing or laid out against DESIGN.md (e.g. unequal partition counts)."""


async def check_copartitioned(settings: Settings) -> int:
    """The decider owns submissions partition p and events partition p together: both topics
    (and outcomes) must exist with the same number of partitions. Returns that number."""
    topics = [settings.submissions_topic, settings.events_topic, settings.outcomes_topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    counts = {}
    for description in described:
        if description["error_code"] != 0 or not description["partitions"]:
            raise TopologyError(
                f"topic {description['topic']} does not exist: run 'casetrail infra up'"
            )
        counts[description["topic"]] = len(description["partitions"])
    if len(set(counts.values())) != 1:
        raise TopologyError(f"submissions, events and outcomes need equal partitions: {counts}")
    return counts[settings.events_topic]


async def read_to_end(
    bootstrap: str, partitions: list[TopicPartition]
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every committed record of the given partitions, from the beginning to the end offsets as
    they are when the call starts."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        # With read_committed these are the last stable offsets, so open transactions of a
        # fenced writer can never hold us up once its successor initialised.
        end = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
