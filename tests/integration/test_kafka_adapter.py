"""The committed reads written once in services/adapters/kafka.py, on the real broker."""

import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from services.adapters.kafka import (
    client_options,
    committed_consumer,
    create_topic,
    read_to_end,
    read_until,
)
from services.settings import KafkaRole, Settings


@pytest.fixture
async def ten_records(servers: Settings) -> TopicPartition:
    """A topic of one partition holding ten records, 0 to 9."""
    tp = TopicPartition(f"{servers.topic_prefix}.adapter-{uuid.uuid4().hex[:6]}", 0)
    await create_topic(servers, tp.topic, 1)
    producer = AIOKafkaProducer(
        **client_options(servers.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        for number in range(10):
            await producer.send_and_wait(tp.topic, str(number).encode(), partition=0)
    finally:
        await producer.stop()
    return tp  # the session's teardown deletes every topic with its prefix


async def test_passes_with_later_ends_read_every_record_once(
    servers: Settings, ten_records: TopicPartition
) -> None:
    """A rebuild reads to the end offsets of one moment, then again to later ones: a fetch that
    crossed the first end must not lose the records it fetched past it."""
    tp = ten_records
    seen: list[int] = []
    async with committed_consumer(servers.as_kafka_user(KafkaRole.ADMIN)) as consumer:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for end in (6, 7, 10):
            async for batches in read_until(consumer, {tp: end}, max_records=4):
                seen += [record.offset for record in batches.get(tp, [])]
            assert seen == list(range(end))
    assert seen == list(range(10))


async def test_read_to_end_reads_what_was_there_when_it_started(
    servers: Settings, ten_records: TopicPartition
) -> None:
    values = [
        record.value
        async for record in read_to_end(servers.as_kafka_user(KafkaRole.ADMIN), [ten_records])
    ]
    assert values == [str(number).encode() for number in range(10)]
