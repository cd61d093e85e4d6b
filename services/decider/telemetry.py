"""What the decider tells Prometheus and OpenTelemetry about a batch (``services.adapters``'s
``metrics`` and ``tracing``).

Per submission it costs a clock reading and a count; the metrics are updated once per batch,
after its transaction committed (an aborted batch is decided again, and counted then). With
traces on, each submission gets a ``decider decide`` span, a child of the context its record's
``traceparent`` header carries (the gateway's publishing; a new trace for a record without
one), and a ``decider transaction`` span beside it covering its batch's transaction up to the
commit; the events and the outcome it writes carry the decide span's context in their headers,
so the projector's spans join the same trace. Values are never touched."""

import time
from collections import Counter
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from events.model import Event
from services.adapters import metrics, tracing
from services.adapters.kafka import Record
from services.decider.partition import Decision

DEAD_LETTER = "dead_letter"

_deciding: dict[int, int] = {}
"""Per partition: the submissions of the batch being decided (read but not committed)."""


def deciding(partition: int) -> int:
    return _deciding.get(partition, 0)


class Batch:
    """One batch on its way through ``Decider._write``."""

    def __init__(self, partition: int, size: int):
        self.partition, self.size = partition, size
        self.began = time.perf_counter()
        self.began_ns = time.time_ns()
        self.deciding = 0.0
        self.tally: Counter[tuple[str, str]] = Counter()
        self.traced = tracing.enabled()
        self.transactions: list[Span] = []
        _deciding[partition] = size

    def decided(
        self, record: Record, decision: Decision, started: float
    ) -> list[tuple[str, bytes]] | None:
        """Count one decision (``started``: ``time.perf_counter()`` before it); with traces on,
        the headers for the records it writes."""
        done = time.perf_counter()
        self.deciding += done - started
        outcome = decision.outcome
        if outcome is None:
            self.tally[DEAD_LETTER, ""] += 1
        else:
            self.tally[outcome.status, outcome.code.value if outcome.code else ""] += 1
        if not self.traced:
            return None
        return self._span(record, decision, started, done)

    def committed(self) -> None:
        _deciding.pop(self.partition, None)
        took = time.perf_counter() - self.began
        for (outcome, code), count in self.tally.items():
            metrics.DECIDED.labels(outcome, code).inc(count)
        metrics.DECIDE_SECONDS.observe(self.deciding)
        metrics.COMMIT_SECONDS.observe(max(took - self.deciding, 0.0))
        metrics.DECIDER_BATCH.observe(self.size)
        tracing.end_all(self.transactions)

    def failed(self, error: BaseException) -> None:
        _deciding.pop(self.partition, None)
        for span in self.transactions:
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500]))
            span.end()

    def _span(
        self, record: Record, decision: Decision, started: float, done: float
    ) -> list[tuple[str, bytes]]:
        parent = tracing.parent_of(record.headers)
        if not tracing.sampled(parent):
            # Not sampled upstream: no span, and the same unsampled context further down.
            return [(name, value) for name, value in record.headers if name == "traceparent"]
        outcome = decision.outcome
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "casetrail.outcome": DEAD_LETTER if outcome is None else outcome.status,
        }
        if outcome is not None:
            attributes[tracing.SUBMISSION_ID] = str(outcome.submission_id)
            attributes[tracing.CASE_ID] = outcome.case_id
            if outcome.code is not None:
                attributes["casetrail.code"] = outcome.code.value
            attributes["casetrail.version"] = outcome.version
        correlation = _correlation_id(record, decision.events)
        if correlation is not None:
            attributes[tracing.CORRELATION_ID] = correlation
        tracer = tracing.tracer()
        decide = tracer.start_span(
            "decider decide",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            start_time=self._ns(started),
            attributes=attributes,
        )
        decide.end(end_time=self._ns(done))
        transaction = tracer.start_span(
            "decider transaction",
            context=parent or trace.set_span_in_context(decide),
            start_time=self.began_ns,
            attributes={
                **{k: v for k, v in attributes.items() if k.startswith("casetrail.")},
                "casetrail.batch_submissions": self.size,
                "casetrail.events_appended": len(decision.events),
            },
        )
        self.transactions.append(transaction)
        return tracing.headers_of(decide)

    def _ns(self, perf: float) -> int:
        return self.began_ns + int((perf - self.began) * 1e9)


def _correlation_id(record: Record, events: tuple[Event, ...]) -> str | None:
    """The submission's correlation_id (its submission_id when it names none)."""
    if events:
        return str(events[0].correlation_id)
    try:
        document = orjson.loads(record.value or b"")
        found = document.get("correlation_id") or document.get("submission_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(found)[:100] if found is not None else None
