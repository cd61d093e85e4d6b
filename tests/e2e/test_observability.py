"""Metrics, traces and JSON logs of the four real services on the real Kafka and PostgreSQL.

One run: a backlog of signed submissions published straight to Kafka before the decider starts
(so that its lag shows), a few submissions over HTTP through the gateway (accepted, and one
rejected), the projector started last with small batches (so that its lag shows), and a rebuild
left half done. Every service runs with ``CASETRAIL_TRACES=console`` and
``CASETRAIL_LOG_FORMAT=json``: the spans are read back from their output."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections import builds
from projections.catalog import PROJECTIONS
from projections.db import connect
from services.adapters.case_store import ensure_case_store
from services.adapters.kafka import create_topics, delete_topics
from services.bench.workload import submissions
from services.infra.servers import free_port
from services.privacy.keystore import ensure_keystore
from services.progress import quiet
from services.projector import bulk
from services.settings import KafkaRole, LogFormat, Settings, TraceExport, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import accept_body, new_case_id, register_body
from tests.support import Service, eventually, healthy, publish

BACKLOG = 300
"""Submissions waiting on the topic when the decider starts."""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a /metrics answer: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


def scrape(url: str) -> Samples:
    return samples(httpx.get(f"{url}/metrics", timeout=5).text)


def largest_while(url: str, name: str, done: Any, seconds: float = 90) -> float:
    """Scrape ``url`` as fast as it answers until ``done(samples)``; the largest sum of
    ``name`` over any one scrape."""
    largest, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = scrape(url)
        except httpx.HTTPError:
            time.sleep(0.05)  # not listening yet
            continue
        largest = max(largest, total(found, name))
        if done(found):
            return largest
        time.sleep(0.01)
    raise AssertionError(f"{url}: not done within {seconds} s")


def spans(log: Path) -> list[dict[str, Any]]:
    """The spans a service printed (one JSON line each), among its JSON log lines."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"context"' in line and '"resource"' in line:
            found.append(json.loads(line))
    return found


@dataclass
class Run:
    settings: Settings
    services: dict[str, Service]
    urls: dict[str, str]
    http_correlation_id: str
    largest_decider_lag: float
    largest_projection_lag: float
    largest_projection_lag_seconds: float


@pytest.fixture(scope="module")
async def run(servers: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    tag = uuid.uuid4().hex[:6]
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_obs_{tag}"
    ports = {name: free_port() for name in ("decider", "projector", "gateway", "query")}
    settings = servers.isolated(f"{servers.topic_prefix}-obs-{tag}", database).model_copy(
        update={
            "traces": TraceExport.CONSOLE,
            "log_format": LogFormat.JSON,
            "gateway_access_log": True,  # a JSON line per request, with its submission's ids
            "decider_health_port": ports["decider"],
            "projector_metrics_port": ports["projector"],
            "gateway_port": ports["gateway"],
            "query_port": ports["query"],
            "projector_batch_events": 5,  # a backlog takes many batches: its lag shows
        }
    )
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    log_dir = tmp_path_factory.mktemp("observed")
    services = {name: Service(name, settings, log_dir) for name in ports}
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            await ensure_keystore(settings)
            await ensure_case_store(settings)
            await create_topics(settings, quiet)
            token = await make_token(settings, TokenRole.DEPARTMENT, ["信访办"])
            await publish(settings, submissions(BACKLOG, 5, tag), chunks=1)

            services["decider"].start()
            decided = BACKLOG  # every one answered (accepted or not), once committed
            decider_lag = await asyncio.to_thread(
                largest_while,
                urls["decider"],
                "casetrail_decider_lag_submissions",
                lambda found: total(found, "casetrail_decider_submissions_total") >= decided,
            )

            services["gateway"].start()
            services["query"].start()
            for url in (urls["gateway"], urls["query"]):
                await asyncio.to_thread(eventually, lambda url=url: healthy(url), 60, url)
            case_id, correlation_id = new_case_id(), str(uuid.uuid4())
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=urls["gateway"], headers=headers) as gateway:
                body = register_body(case_id, correlation_id=correlation_id)
                answer = await gateway.post("/submissions", json=body, timeout=60)
                assert answer.status_code == 201, answer.text
                answer = await gateway.post("/submissions", json=accept_body(case_id))
                assert answer.status_code == 201, answer.text
                answer = await gateway.post("/submissions", json=accept_body(new_case_id()))
                assert answer.status_code == 404, answer.text  # unknown_case

            services["projector"].start()
            lags = await asyncio.to_thread(_projector_lags, urls["projector"])
            await _half_a_rebuild(settings)
            yield Run(settings, services, urls, correlation_id, decider_lag, *lags)
            for service in services.values():
                service.check_alive()
        finally:
            for service in services.values():
                service.stop()
            await delete_topics(settings)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _projector_lags(url: str) -> tuple[float, float]:
    """The largest lag in events and in seconds the projector reported while catching up,
    until every projection is caught up (nothing behind, events applied)."""
    largest_seconds = 0.0

    def caught_up(found: Samples) -> bool:
        nonlocal largest_seconds
        largest_seconds = max(largest_seconds, total(found, "casetrail_projection_lag_seconds"))
        applied = all(
            total(found, "casetrail_projector_events_total", projection=name) > 0
            for name in PROJECTIONS
        )
        return applied and total(found, "casetrail_projection_lag_events") == 0

    largest = largest_while(url, "casetrail_projection_lag_events", caught_up)
    return largest, largest_seconds


async def _half_a_rebuild(settings: Settings) -> None:
    """A rebuild of officer_activity under way: a new build loaded up to one partition's end."""
    settings = settings.as_kafka_user(KafkaRole.PROJECTOR)
    async with connect(settings.postgres_dsn) as conn:
        build = await builds.new_build(conn, PROJECTIONS["officer_activity"], with_indexes=False)
        live = await builds.live_offsets(conn, "officer_activity", settings.events_topic)
    first = min(p for p, end in live.items() if end > 0)
    await bulk.load(settings, "officer_activity", build, {first: live[first]})


def test_every_service_exposes_its_metrics_with_values(run: Run) -> None:
    assert run.largest_decider_lag > 0, "the backlog showed as the decider's lag"
    assert run.largest_projection_lag > 0, "the backlog showed as the projections' lag"
    assert run.largest_projection_lag_seconds > 0

    decider = scrape(run.urls["decider"])
    accepted = total(decider, "casetrail_decider_submissions_total", outcome="accepted")
    assert accepted >= 2  # the two over HTTP; the backlog's are accepted or rejected
    assert total(decider, "casetrail_decider_submissions_total") >= BACKLOG + 3
    unknown = {"outcome": "rejected", "code": "unknown_case"}
    assert total(decider, "casetrail_decider_submissions_total", **unknown) >= 1
    for name in (
        "casetrail_decider_decide_seconds_count",
        "casetrail_decider_decide_seconds_sum",
        "casetrail_decider_commit_seconds_count",
        "casetrail_decider_commit_seconds_sum",
        "casetrail_decider_batch_submissions_count",
        "process_cpu_seconds_total",
    ):
        assert total(decider, name) > 0, name
    served = total(decider, "casetrail_decider_partitions", state="serving")
    assert served == run.settings.partitions
    lags = [ls for (n, ls) in decider if n == "casetrail_decider_lag_submissions"]
    assert len(lags) == run.settings.partitions, "one lag per partition served"
    assert total(decider, "casetrail_decider_lag_submissions") == 0, "all decided by now"

    projector = scrape(run.urls["projector"])
    for name in PROJECTIONS:
        assert total(projector, "casetrail_projector_events_total", projection=name) > 0
        assert total(projector, "casetrail_projector_write_seconds_count", projection=name) > 0
        batches = total(projector, "casetrail_projector_batch_events_count", projection=name)
        assert batches > 1, "small batches: the backlog took several"
    rebuild = [
        (dict(ls), v)
        for (n, ls), v in projector.items()
        if n == "casetrail_projection_rebuild_progress_ratio"
    ]
    assert [labels["projection"] for labels, _ in rebuild] == ["officer_activity"], rebuild
    assert 0 < rebuild[0][1] <= 1

    gateway = scrape(run.urls["gateway"])
    created = {"handler": "/submissions", "method": "POST", "status": "201"}
    assert total(gateway, "http_request_duration_seconds_count", **created) == 2
    assert total(gateway, "http_request_duration_seconds_sum", **created) > 0
    rejected = {"handler": "/submissions", "status": "404"}
    assert total(gateway, "http_request_duration_seconds_count", **rejected) == 1
    assert total(gateway, "faststream_published_messages_total") == 3

    query = scrape(run.urls["query"])
    health = {"handler": "/health", "method": "GET", "status": "200"}
    assert total(query, "http_request_duration_seconds_count", **health) >= 1
    assert not any(n.startswith("casetrail_decider") for n, _ in query), "its own metrics only"


def test_one_submission_is_one_trace_from_the_gateway_to_the_projector(run: Run) -> None:
    def named(service: str, count: int) -> list[dict[str, Any]]:
        """The service's spans of the HTTP submission, once it printed ``count`` of them (it
        prints them in batches, every few seconds)."""

        def printed() -> list[dict[str, Any]] | None:
            found = [
                span
                for span in spans(run.services[service].log)
                if span["attributes"].get("casetrail.correlation_id") == run.http_correlation_id
            ]
            return found if len(found) >= count else None

        return eventually(printed, 30, f"{count} spans of the submission by the {service}")

    gateway, decider = named("gateway", 1), named("decider", 2)
    projector = named("projector", len(PROJECTIONS))
    traces = {span["context"]["trace_id"] for span in [*gateway, *decider, *projector]}
    assert len(traces) == 1, traces
    (trace_id,) = traces
    assert [s["name"] for s in gateway] == ["POST /submissions"]
    assert sorted(s["name"] for s in decider) == ["decider decide", "decider transaction"]
    written = sorted(s["attributes"]["casetrail.projection"] for s in projector)
    assert written == sorted(PROJECTIONS), "each projection wrote the submission's rows"

    # The chain of parents: the request, faststream's publishing, the decision, the rows.
    every = {
        s["context"]["span_id"]: s
        for service in ("gateway", "decider", "projector")
        for s in spans(run.services[service].log)
        if s["context"]["trace_id"] == trace_id
    }
    decide = next(s for s in decider if s["name"] == "decider decide")
    published = every[decide["parent_id"]]
    assert published["resource"]["attributes"]["service.name"] == "casetrail-gateway"
    assert published["kind"] == "SpanKind.PRODUCER", published["name"]
    for span in projector:
        assert span["parent_id"] == decide["context"]["span_id"]


def test_json_logs_name_the_submission(run: Run) -> None:
    lines = [
        json.loads(line)
        for line in run.services["gateway"].log.read_text(errors="replace").splitlines()
        if line.startswith("{") and '"level"' in line
    ]
    assert lines, "the gateway logs JSON"
    requests = [line for line in lines if line.get("correlation_id") == run.http_correlation_id]
    assert requests, "the access log line of the request names its correlation_id"
    assert requests[0]["logger"] == "uvicorn.access"
    assert requests[0]["trace_id"]
