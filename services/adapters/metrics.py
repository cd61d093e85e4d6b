"""Every Prometheus metric of CaseTrail's own, in one place (the Grafana dashboard in
``observability/grafana/`` draws these and nothing else: ``tests/unit/test_observability.py``
checks).

Each service exposes ``GET /metrics`` with its own registry (``registry``): its metrics below,
the process's (CPU, memory, open files) and, for the gateway and the query service, the HTTP
latency by route template and status that ``services.adapters.http.instrument`` adds
(its ASGI middleware), and for the gateway faststream's publishing metrics.

What is counted on the hot path costs a few dictionary look-ups per batch and one per
submission; what only matters when Prometheus asks (how far behind each partition is, rebuild
progress) is read then (``Readings``), at no cost in between."""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

# No ``_created`` series beside each counter and histogram: a time stamp per series that no
# panel reads, in every scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Seconds: from half a millisecond (a small batch decided) to the gateway's time-out."""
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 20000)
"""Records per batch: one (a submission at a time) to a bulk catch-up's fetch."""

Reading = tuple[tuple[str, ...], float]
"""The label values and the value of one gauge sample."""


class Readings(Collector):
    """A gauge read when Prometheus scrapes, from what the running service registered with
    ``reading``: nothing is kept up to date in between."""

    def __init__(self, name: str, documentation: str, labels: Iterable[str] = ()):
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.sources: list[Callable[[], Iterable[Reading]]] = []

    @contextmanager
    def reading(self, source: Callable[[], Iterable[Reading]]) -> Iterator[None]:
        self.sources.append(source)
        try:
            yield
        finally:
            self.sources.remove(source)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labels)
        for source in list(self.sources):
            for labels, value in source():
                family.add_metric(list(labels), value)
        yield family

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self.name, self.documentation, labels=self.labels)


# --- the decider ---------------------------------------------------------------------------

DECIDED = Counter(
    "casetrail_decider_submissions",
    "Submissions answered, by outcome (accepted, rejected, dead_letter) and rejection code"
    " (empty when accepted), counted once their transaction committed",
    ["outcome", "code"],
    registry=None,
)
DECIDE_SECONDS = Histogram(
    "casetrail_decider_decide_seconds",
    "Per batch: deciding its submissions (checks, the domain's decision, sealing), no I/O",
    buckets=LATENCY_BUCKETS,
    registry=None,
)
COMMIT_SECONDS = Histogram(
    "casetrail_decider_commit_seconds",
    "Per batch: its Kafka transaction without the deciding (sending events, outcomes and the"
    " checkpoint, the acknowledgements, the offsets, the commit)",
    buckets=LATENCY_BUCKETS,
    registry=None,
)
DECIDER_BATCH = Histogram(
    "casetrail_decider_batch_submissions",
    "Submissions per batch (one Kafka transaction)",
    buckets=BATCH_BUCKETS,
    registry=None,
)
DECIDER_LAG = Readings(
    "casetrail_decider_lag_submissions",
    "Per partition this decider serves: submissions not decided yet (not read yet, as Kafka's"
    " clients count their lag from the last fetch, and those of the batch being decided)",
    ["partition"],
)
DECIDER_PARTITIONS = Readings(
    "casetrail_decider_partitions",
    "Partitions assigned to this decider, by state (serving, taking_over, refused)",
    ["state"],
)
DECIDER = (DECIDED, DECIDE_SECONDS, COMMIT_SECONDS, DECIDER_BATCH, DECIDER_LAG, DECIDER_PARTITIONS)

# --- the projector -------------------------------------------------------------------------

PROJECTED = Counter(
    "casetrail_projector_events",
    "Events applied to a projection's live build by this projector (not by a bulk catch-up)",
    ["projection"],
    registry=None,
)
PROJECTOR_BATCH = Histogram(
    "casetrail_projector_batch_events",
    "Events per PostgreSQL transaction of a projection",
    ["projection"],
    buckets=BATCH_BUCKETS,
    registry=None,
)
PROJECTOR_WRITE_SECONDS = Histogram(
    "casetrail_projector_write_seconds",
    "Per batch: its PostgreSQL transaction (rows and checkpoints)",
    ["projection"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)
PROJECTION_LAG_EVENTS = Readings(
    "casetrail_projection_lag_events",
    "Per partition this projector holds: events not read yet (Kafka's records-lag: the end of"
    " the partition as last fetched, less the consumer's position)",
    ["projection", "partition"],
)
PROJECTION_LAG_SECONDS = Readings(
    "casetrail_projection_lag_seconds",
    "How long before its rows were written the last event applied was appended to the log;"
    " 0 while nothing is behind",
    ["projection"],
)
REBUILD_PROGRESS = Readings(
    "casetrail_projection_rebuild_progress_ratio",
    "A rebuild under way ('casetrail rebuild'): the offsets its build has applied over those"
    " the live build has (1: caught up; it then switches)",
    ["projection", "build"],
)
PROJECTOR = (
    PROJECTED,
    PROJECTOR_BATCH,
    PROJECTOR_WRITE_SECONDS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
    REBUILD_PROGRESS,
)

# --- the gateway and the query service ------------------------------------------------------

HTTP_LATENCY = "http_request_duration_seconds"
"""The gateway's and query service's requests, by route template (``handler``), method and
status (``services.adapters.http.Latency``)."""


def registry(*collectors: Collector) -> CollectorRegistry:
    """A service's registry: ``collectors`` and the process's own metrics."""
    made = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=made)
    for collector in (PLATFORM_COLLECTOR, GC_COLLECTOR, *collectors):
        made.register(collector)
    return made


def render(made: CollectorRegistry) -> bytes:
    """The text Prometheus scrapes."""
    return generate_latest(made)


def names(made: CollectorRegistry) -> set[str]:
    """The names of the time series a registry can expose (with ``_bucket``, ``_count``,
    ``_sum``, ``_total`` and ``_created`` where the type has them)."""
    found = set()
    for family in made.collect():
        found.add(family.name)
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ())
        found.update(family.name + suffix for suffix in suffixes)
    return found
