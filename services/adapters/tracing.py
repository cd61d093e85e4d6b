"""OpenTelemetry traces that follow one submission: the gateway's HTTP request (FastAPI's
instrumentation) and its publishing (faststream's), the decider's decision and transaction, the
projector's rows, one trace linked by the W3C ``traceparent`` header on the Kafka records and
by the submission's ``correlation_id`` (attribute ``casetrail.correlation_id`` on each span).

Headers only: a record's value is never touched (the decider passes on or signs over the bytes
as they are). Off by default (``CASETRAIL_TRACES``); off, the services ask ``enabled()`` once
per batch or request and do nothing else. ``console`` prints one JSON line per span on standard
output, ``otlp`` sends them to a collector (``CASETRAIL_OTLP_ENDPOINT``).

Why not opentelemetry-instrumentation-aiokafka: it wraps every producer and consumer of the
process (the decider's snapshots, checkpoints and fold reads too), opens a span per record a
``getmany`` returns and ends it at once, so the decision made later in the batch's transaction
cannot be its child; the decider and the projector open their spans here, where they know the
submission, its batch and its transaction."""

import sys
from collections.abc import Iterable, Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.settings import Settings, TraceExport

CORRELATION_ID = "casetrail.correlation_id"
SUBMISSION_ID = "casetrail.submission_id"
CASE_ID = "casetrail.case_id"

Headers = Sequence[tuple[str, bytes]]
"""A Kafka record's headers, as aiokafka gives and takes them."""

PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


class _RecordHeaders(Getter[Headers]):
    def get(self, carrier: Headers, key: str) -> list[str] | None:
        found = [value.decode("latin-1") for name, value in carrier if name == key]
        return found or None

    def keys(self, carrier: Headers) -> list[str]:
        return [name for name, _ in carrier]


READ_HEADERS = _RecordHeaders()


def one_line(span: ReadableSpan) -> str:
    """A span as one JSON line. faststream records a Kafka record's key as bytes, which the
    SDK's JSON does not take: shown as text."""
    attributes = span.attributes or {}
    if any(isinstance(value, bytes) for value in attributes.values()):
        span = ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes={
                name: value.decode(errors="replace") if isinstance(value, bytes) else value
                for name, value in attributes.items()
            },
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
    line: str = span.to_json(indent=None)
    return line + "\n"


def configure(settings: Settings, service: str, exporter: SpanExporter | None = None) -> bool:
    """Set up this process's tracer provider as the settings say (or with ``exporter``);
    True if traces are on. Once per process: OpenTelemetry's provider is global."""
    global _provider
    if exporter is None:
        if settings.traces is TraceExport.OFF:
            return False
        if settings.traces is TraceExport.CONSOLE:
            exporter = ConsoleSpanExporter(out=sys.stdout, formatter=one_line)
        else:
            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": f"casetrail-{service}"})
        )
        trace.set_tracer_provider(_provider)
    _provider.add_span_processor(BatchSpanProcessor(exporter))
    return True


def enabled() -> bool:
    return _provider is not None


def provider() -> TracerProvider | None:
    return _provider


def tracer() -> trace.Tracer:
    return trace.get_tracer("casetrail")


def parent_of(headers: Headers | None) -> Context | None:
    """The context a record's ``traceparent`` header carries; None without one."""
    if not headers:
        return None
    found = PROPAGATOR.extract(headers, getter=READ_HEADERS)
    return found if trace.get_current_span(found).get_span_context().is_valid else None


def sampled(context: Context | None) -> bool:
    """Whether spans under ``context`` are recorded (a new trace: the sampler decides, so
    yes here); a publisher that did not sample its trace is followed."""
    if context is None:
        return True
    return bool(trace.get_current_span(context).get_span_context().trace_flags.sampled)


def headers_of(span: trace.Span) -> list[tuple[str, bytes]]:
    """The header that makes what a record causes part of ``span``'s trace."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


def end_all(spans: Iterable[trace.Span], end_time: int | None = None) -> None:
    for span in spans:
        span.end(end_time=end_time)
