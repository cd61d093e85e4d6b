"""How far each projection is behind the log (``casetrail lag``)."""

from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from projections import builds
from projections.catalog import PROJECTIONS
from projections.db import Connection
from projections.queries import health
from services.adapters.kafka import committed_consumer, end_offsets, event_partitions
from services.settings import KafkaRole, Settings


@dataclass(frozen=True)
class Lag:
    projection: str
    build: int | None
    behind: dict[int, int]
    errors: list[dict[str, Any]]
    retrying: list[dict[str, Any]]

    @property
    def healthy(self) -> bool:
        return self.build is not None and not self.errors and not self.retrying


async def lag(settings: Settings, conn: Connection) -> list[Lag]:
    settings = settings.as_kafka_user(KafkaRole.PROJECTOR)  # unless a user is configured
    partitions = await event_partitions(settings)
    ends = await end_offsets(settings, partitions)
    report = []
    for name in PROJECTIONS:
        build = await builds.live_build(conn, name)
        stored = await builds.live_offsets(conn, name, settings.events_topic)
        errors = await health.errors(conn, name, build) if build is not None else []
        retrying = await health.retrying(conn, name, build) if build is not None else []
        behind = await _behind(settings, stored, ends)
        report.append(Lag(name, build, behind, errors, retrying))
    return report


async def _behind(
    settings: Settings, stored: dict[int, int], ends: dict[TopicPartition, int]
) -> dict[int, int]:
    """Events after each stored offset. Transaction markers take offsets too, so a projection
    that has applied every event may still be a few offsets short of the end: look whether any
    event is really there, and if so count the offsets (an upper bound)."""
    behind = {tp.partition: 0 for tp in ends}
    starts = {tp: stored.get(tp.partition, 0) for tp in ends}
    starts = {tp: start for tp, start in starts.items() if start < ends[tp]}
    if not starts:
        return behind
    async with committed_consumer(settings) as consumer:
        consumer.assign(list(starts))
        for tp, start in starts.items():
            consumer.seek(tp, start)
        # One fetch for all of them: a partition with an event after its stored offset
        # answers at once; one with only transaction markers there answers nothing.
        fetched = await consumer.getmany(timeout_ms=500)
        for tp, records in fetched.items():
            if any(r.offset < ends[tp] for r in records):
                behind[tp.partition] = ends[tp] - starts[tp]
    return behind
