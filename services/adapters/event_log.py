"""Reading the log of record itself: every event, or some cases' (replay, as-of, statistics,
erasure)."""

from collections import defaultdict
from collections.abc import Collection

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


async def events_of_cases(settings: Settings, case_ids: Collection[str]) -> dict[str, list[Event]]:
    """The events of each case, reading each partition that holds one of them once."""
    settings = settings.as_kafka_user(KafkaRole.AUDITOR)  # unless a user is configured
    partitions = await event_partitions(settings)
    place = partitioner(len(partitions))
    chosen = sorted({place(case_id) for case_id in case_ids})
    wanted, found = set(case_ids), defaultdict(list)
    for event in await read_events(settings, [partitions[p] for p in chosen]):
        if event.case_id in wanted:
            found[event.case_id].append(event)
    return dict(found)
