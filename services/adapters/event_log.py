"""Reading the log of record itself: every event, or one case's (replay, as-of, statistics)."""

from aiokafka import TopicPartition

from events.model import Event
from services.adapters.kafka import event_partitions, partitioner, read_to_end
from services.settings import KafkaRole, Settings


async def read_events(
    settings: Settings, partitions: list[TopicPartition] | None = None
) -> list[Event]:
    """Every event of the given partitions (default: all), in offset order per partition."""
    settings = settings.as_kafka_user(KafkaRole.AUDITOR)  # unless a user is configured
    chosen = partitions if partitions is not None else await event_partitions(settings)
    return [
        Event.model_validate_json(record.value or b"")
        async for record in read_to_end(settings, chosen)
    ]


async def case_events(settings: Settings, case_id: str) -> list[Event]:
    """A case's events, from the partition its key maps to (all partitions if not there)."""
    settings = settings.as_kafka_user(KafkaRole.AUDITOR)  # unless a user is configured
    partitions = await event_partitions(settings)
    likely = partitions[partitioner(len(partitions))(case_id)]
    for candidates in ([likely], partitions):
        found = [e for e in await read_events(settings, candidates) if e.case_id == case_id]
        if found:
            return found
    return []
