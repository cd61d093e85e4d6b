"""The transactional baseline of ``casetrail bench write``: raw aiokafka doing what the decider
does with no domain code. It consumes a topic (read_committed, a consumer group, no automatic
commits) and, per batch, in one transaction per partition, produces one reply per record and
sends the consumed offsets: the least that exactly-once costs on this broker.

Run as its own process, as the decider is: ``python -m services.bench.relay SOURCE SINK``
with the CASETRAIL_* settings of the admin user in the environment; it stops on SIGTERM.
"""

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.adapters.kafka import Record, client_options
from services.settings import KafkaRole, Settings


async def relay(settings: Settings, source: str, sink: str, stop: asyncio.Event) -> None:
    options = client_options(settings.as_kafka_user(KafkaRole.ADMIN))
    group = f"{source}.relay"
    consumer = AIOKafkaConsumer(
        source,
        **options,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    producers: dict[int, AIOKafkaProducer] = {}
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            for tp, records in batches.items():
                producer = producers.get(tp.partition)
                if producer is None:
                    producer = AIOKafkaProducer(
                        **options, transactional_id=f"{group}.p{tp.partition}", linger_ms=0
                    )
                    await producer.start()
                    producers[tp.partition] = producer
                await _forward(producer, tp, records, sink, group)
    finally:
        await consumer.stop()
        for producer in producers.values():
            await producer.stop()


async def _forward(
    producer: AIOKafkaProducer, tp: TopicPartition, records: list[Record], sink: str, group: str
) -> None:
    async with producer.transaction():
        sent = [
            await producer.send(sink, record.value, key=record.key, partition=tp.partition)
            for record in records
        ]
        await asyncio.gather(*sent)
        await producer.send_offsets_to_transaction({tp: records[-1].offset + 1}, group)


def main() -> None:
    source, sink = sys.argv[1], sys.argv[2]
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await relay(Settings(), source, sink, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
