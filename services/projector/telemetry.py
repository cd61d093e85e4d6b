"""What the projector tells Prometheus and OpenTelemetry (``services.adapters``'s ``metrics``
and ``tracing``): per batch written, its size and its transaction's time; when Prometheus asks,
how far each partition is behind and the progress of any rebuild; with traces on, a
``projector write`` span per submission whose events the batch wrote, a child of the decider's
decision (the ``traceparent`` header the decider gave the events), over the batch's
transaction."""

import time
from collections.abc import Sequence

import asyncpg
from opentelemetry import trace

from projections import builds
from projections.catalog import PROJECTIONS
from projections.projection import LoggedEvent
from services.adapters import metrics, tracing
from services.adapters.kafka import Record


class Watch:
    """One projection's batches."""

    def __init__(self, projection: str):
        self.projection = projection
        self.applied = metrics.PROJECTED.labels(projection)
        self.sizes = metrics.PROJECTOR_BATCH.labels(projection)
        self.times = metrics.PROJECTOR_WRITE_SECONDS.labels(projection)
        self.age = 0.0
        """How old (seconds since it was appended) the last event written was when written."""

    def began(self) -> tuple[float, int]:
        return time.perf_counter(), time.time_ns()

    def written(
        self, records: Sequence[Record], events: Sequence[LoggedEvent], began: tuple[float, int]
    ) -> None:
        """A batch committed: ``records`` and their ``events``, in the same order."""
        self.applied.inc(len(events))
        self.sizes.observe(len(events))
        self.times.observe(time.perf_counter() - began[0])
        newest = max(record.timestamp for record in records)
        self.age = max(time.time() - newest / 1000, 0.0)
        if tracing.enabled():
            self._spans(records, events, began[1])

    def _spans(
        self, records: Sequence[Record], events: Sequence[LoggedEvent], began_ns: int
    ) -> None:
        ended = time.time_ns()
        tracer = tracing.tracer()
        seen: set[bytes] = set()
        for record, logged in zip(records, events, strict=True):
            parent = tracing.parent_of(record.headers)
            header = dict(record.headers).get("traceparent", b"")
            if parent is None or header in seen or not tracing.sampled(parent):
                continue  # one span per sampled submission: its events carry the same header
            seen.add(header)
            event = logged.event
            span = tracer.start_span(
                f"projector write {self.projection}",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                start_time=began_ns,
                attributes={
                    "casetrail.projection": self.projection,
                    tracing.CORRELATION_ID: str(event.correlation_id),
                    tracing.SUBMISSION_ID: str(event.submission_id),
                    tracing.CASE_ID: event.case_id,
                    "casetrail.version": event.version,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "casetrail.batch_events": len(events),
                },
            )
            span.end(end_time=ended)


class Rebuilds:
    """The progress of the rebuilds under way, read from PostgreSQL when Prometheus asks."""

    def __init__(self, pool: asyncpg.Pool, topic: str):
        self.pool, self.topic = pool, topic
        self.progress: list[metrics.Reading] = []

    def readings(self) -> list[metrics.Reading]:
        return self.progress

    async def refresh(self) -> None:
        found: list[metrics.Reading] = []
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT projection, build FROM projection_builds b WHERE state = 'building'"
                " AND EXISTS (SELECT 1 FROM pg_namespace"
                " WHERE nspname = b.projection || '_b' || b.build)"
            )
            for row in rows:
                name, build = row["projection"], row["build"]
                if name not in PROJECTIONS:
                    continue
                live = sum((await builds.live_offsets(conn, name, self.topic)).values())
                done = sum((await builds.offsets(conn, name, build, self.topic)).values())
                found.append(((name, str(build)), min(done / live, 1.0) if live else 1.0))
        self.progress = found
