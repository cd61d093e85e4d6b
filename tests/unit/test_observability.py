"""The observability profile of docker-compose.yml, its Prometheus and Grafana files, and the
pieces of metrics, traces and JSON logs that need no server (the real stack:
tests/e2e/test_observability.py)."""

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from services.adapters import metrics, tracing
from services.adapters.http import instrument
from services.decider import health
from services.gateway.app import kafka_contract
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "observability"
METRIC = re.compile(r"\b((?:casetrail|http|faststream|process)_[a-z0-9_]+)\b")


def compose() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return found


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        (OBSERVABILITY / "grafana" / "dashboards" / "casetrail.json").read_text()
    )
    return found


def exposed() -> set[str]:
    """Every series name a CaseTrail service can expose: the decider's and projector's
    registries, and the gateway's (HTTP, faststream's publishing, the process)."""
    gateway = metrics.registry()
    settings = Settings(kafka_user="gateway", kafka_password=SecretStr("unused"))
    kafka_contract(settings, gateway)
    instrument(FastAPI(), gateway)
    return (
        metrics.names(metrics.registry(*metrics.DECIDER))
        | metrics.names(metrics.registry(*metrics.PROJECTOR))
        | metrics.names(gateway)
    )


def test_the_dashboard_draws_only_metrics_that_exist_and_every_one_of_ours() -> None:
    board = dashboard()
    exprs = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]  # fmt: skip
    drawn = {name for expr in exprs for name in METRIC.findall(expr)}
    assert drawn, "the dashboard queries metrics"
    assert drawn <= exposed(), drawn - exposed()
    ours = {
        family.name
        for family in metrics.registry(*metrics.DECIDER, *metrics.PROJECTOR).collect()
        if family.name.startswith("casetrail_")
    }
    missing = {name for name in ours if not any(d.startswith(name) for d in drawn)}
    assert not missing, f"no panel shows {missing}"
    assert any(d.startswith(metrics.HTTP_LATENCY) for d in drawn)
    sources = {
        target["datasource"]["uid"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }  # fmt: skip
    provisioned = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert sources == {source["uid"] for source in provisioned["datasources"]}


def test_the_observability_profile_scrapes_every_service_with_official_images() -> None:
    services = compose()["services"]
    profile = {n: s for n, s in services.items() if "observability" in s.get("profiles", [])}
    assert sorted(profile) == ["grafana", "prometheus"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for service in profile.values():
        for volume in service["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    grafana_mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    providers = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/dashboards/casetrail.yml").read_text()
    )
    (provider,) = providers["providers"]
    assert grafana_mounts["./observability/grafana/dashboards"] == provider["options"]["path"]

    scrape = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in scrape["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    defaults = Settings()
    assert targets == {
        "gateway": f"gateway:{defaults.gateway_port}",
        "query": f"query:{defaults.query_port}",
        "decider": f"decider:{defaults.decider_health_port}",
        "projector": f"projector:{defaults.projector_metrics_port}",
    }
    # The two without a web server listen on loopback unless told otherwise.
    decider = services["decider"]["environment"]
    projector = services["projector"]["environment"]
    assert decider["CASETRAIL_DECIDER_HEALTH_HOST"] == "0.0.0.0"
    assert projector["CASETRAIL_PROJECTOR_METRICS_HOST"] == "0.0.0.0"


async def test_the_decider_serves_metrics_beside_its_health() -> None:
    registry = metrics.registry(*metrics.DECIDER)
    metrics.DECIDED.labels("rejected", "unknown_case").inc()

    def answer() -> tuple[int, str, bytes]:
        return 200, metrics.CONTENT_TYPE, metrics.render(registry)

    server = await health.serve("127.0.0.1", 0, lambda: (200, {}), answer)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
        text = (await reader.read()).decode()
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert text.startswith("HTTP/1.1 200 OK\r\nContent-Type: text/plain")
    line = 'casetrail_decider_submissions_total{code="unknown_case",outcome="rejected"}'
    assert line in text
    assert "process_cpu_seconds_total" in text
    assert "_created" not in text


def test_a_trace_context_goes_in_a_header_and_comes_back() -> None:
    span = TracerProvider().get_tracer("test").start_span("gateway")
    headers = [("correlation_id", b"x"), *tracing.headers_of(span)]
    assert [name for name, _ in headers] == ["correlation_id", "traceparent"]
    parent = tracing.parent_of(headers)
    assert parent is not None
    from_header = trace.get_current_span(parent).get_span_context()
    assert from_header.trace_id == span.get_span_context().trace_id
    assert from_header.span_id == span.get_span_context().span_id
    assert tracing.parent_of([("traceparent", b"junk")]) is None
    assert tracing.sampled(parent)
    unsampled = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert not tracing.sampled(tracing.parent_of([("traceparent", unsampled)]))
    assert tracing.parent_of(None) is None


def test_json_logs_carry_the_bound_ids_and_text_stays_the_default() -> None:
    program = (
        "import logging; from services import logs; logs.configure();"
        " logs.bind(correlation_id='c-1', submission_id='s-1');"
        " logging.getLogger('casetrail.test').warning('办结 %d', 1)"
    )

    def run(log_format: str | None) -> str:
        env = {"PATH": "/usr/bin:/bin"}
        if log_format is not None:
            env["CASETRAIL_LOG_FORMAT"] = log_format
        done = subprocess.run(
            [sys.executable, "-c", program],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stderr.strip()

    record = json.loads(run("json"))
    assert record["message"] == "办结 1"
    assert record["level"] == "WARNING"
    assert record["logger"] == "casetrail.test"
    assert (record["correlation_id"], record["submission_id"]) == ("c-1", "s-1")
    text = run(None)
    assert text.endswith("casetrail.test WARNING 办结 1")
