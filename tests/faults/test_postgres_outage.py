"""PostgreSQL stopped for 20 s mid-stream and started again, while the projector and the query
service run under load: nothing lost, nothing stuck, and no operator action (the issue "nothing
lost, nothing stuck"; DESIGN.md, guarantee 4).

The decider needs PostgreSQL only for the key store: a step that records a person waits until
their key is stored (docs/privacy.md), steps without personal data go on. The streams here carry
no personal data, so that the decider keeps the projector busy through the outage, and a few
registrations of persons, sent while PostgreSQL is down, are decided once it is back.

The test runs a PostgreSQL server of its own (``tests.faults.own_postgres``), so the shared one
that other tests use is never stopped, and topics of its own on the shared Kafka."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from projections import builds
from projections.catalog import PROJECTIONS
from projections.db import connect
from services import tokens
from services.adapters.kafka import create_topics, delete_topics, end_offsets
from services.bench.workload import submissions
from services.infra.servers import free_port
from services.progress import quiet
from services.settings import KafkaRole, Settings
from services.tokens import TokenRole
from tests.e2e.test_gateway import bearer
from tests.e2e.test_petition_flow import register_body
from tests.faults.own_postgres import OwnPostgres, own_postgres
from tests.integration.test_projections import (
    assert_equals_a_rebuild,
    decided,
    healthy_and_caught_up,
    snapshot,
)
from tests.support import eventually, healthy, publish, start_services, whole_topic

OUTAGE_S = 20.0
STREAM = 6000
"""Submissions, published in ``CHUNKS`` over about 30 s."""
CHUNKS = 70
OUTAGE_AFTER_S = 6.0
PERSONS = 20
"""Registrations of persons sent during the outage: their keys wait for the key store."""
SERVICES = ("decider", "projector", "query", "gateway")


def answers(url: str) -> bool | None:
    """The service answers HTTP at all (whatever the status)."""
    try:
        httpx.get(f"{url}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return True


@pytest.fixture
def postgres(servers: Settings) -> Iterator[OwnPostgres]:
    with own_postgres(servers) as server:
        yield server


@pytest.fixture
async def system(postgres: OwnPostgres) -> AsyncIterator[Settings]:
    """Topics of its own and a query port of its own, over the test's PostgreSQL."""
    settings = postgres.settings.model_copy(
        update={
            "topic_prefix": f"{postgres.settings.topic_prefix}-pg-{uuid.uuid4().hex[:6]}",
            "query_port": free_port(),
        }
    )
    await create_topics(settings, quiet)
    try:
        yield settings
    finally:
        await delete_topics(settings)


@dataclass
class Probe:
    """What the query service answered, polled all along."""

    answers: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    """Anything but 200, or 503 database_unavailable: a 500, another code, a hang."""
    first_200_after: dict[str, float] = field(default_factory=dict)


async def probe_query(
    url: str, token: str, stop: asyncio.Event, restarted: list[float], probe: Probe
) -> None:
    paths = {
        "health": "/health",
        "projections": "/health/projections",
        "cases": "/cases?limit=1",
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=5, headers=headers) as client:
        while not stop.is_set():
            for name, path in paths.items():
                try:
                    answer = await client.get(path)
                except httpx.HTTPError as error:
                    probe.wrong.append(f"{path}: {error!r}")
                    continue
                is_json = answer.headers.get("content-type", "").startswith("application/json")
                code = answer.json().get("code") if is_json and answer.status_code != 200 else None
                probe.answers[f"{name} {answer.status_code} {code or ''}".strip()] += 1
                if answer.status_code == 503 and code == "database_unavailable":
                    assert answer.headers.get("Retry-After")
                elif answer.status_code == 503 and name == "projections":
                    pass  # reachable, but a projection is behind an error or retrying
                elif answer.status_code != 200:
                    probe.wrong.append(f"{path}: {answer.status_code} {answer.text[:300]}")
                if answer.status_code == 200 and restarted and name not in probe.first_200_after:
                    probe.first_200_after[name] = time.monotonic() - restarted[0]
            await asyncio.sleep(0.25)


async def applied_up_to(settings: Settings, targets: dict[TopicPartition, int]) -> None:
    """Until every projection has applied every event before ``targets`` (the end offsets of a
    moment; the last offset may be a transaction marker, which is never applied)."""
    async with asyncio.timeout(300), connect(settings.postgres_dsn) as conn:
        while True:
            stored = [
                await builds.live_offsets(conn, name, settings.events_topic) for name in PROJECTIONS
            ]
            if all(
                o.get(tp.partition, 0) >= end - 1 for o in stored for tp, end in targets.items()
            ):
                return
            await asyncio.sleep(0.25)


@pytest.mark.timeout(900)
async def test_postgres_down_for_20_seconds_mid_stream_loses_and_doubles_nothing(
    system: Settings, postgres: OwnPostgres, tmp_path: Path
) -> None:
    async with connect(system.postgres_dsn) as conn:
        _, token = await tokens.create(conn, TokenRole.AUDITOR, [], "outage test")
    decider, projector, query = start_services(system, tmp_path, "decider", "projector", "query")
    url = f"http://127.0.0.1:{system.query_port}"
    await asyncio.to_thread(eventually, lambda: healthy(url), 60, url)

    messages = submissions(STREAM, 6, uuid.uuid4().hex[:6], personal=False)
    began = time.monotonic()
    publishing = asyncio.create_task(publish(system, messages, chunks=CHUNKS))
    probe, probing, restarted = Probe(), asyncio.Event(), list[float]()
    probing_task = asyncio.create_task(probe_query(url, token, probing, restarted, probe))

    await asyncio.sleep(OUTAGE_AFTER_S)
    stopped_in = await asyncio.to_thread(postgres.stop)
    down_at = time.monotonic()
    print(f"\nPostgreSQL stopped {down_at - began:.1f} s into the stream ({stopped_in:.1f} s)")
    persons = submissions(2 * PERSONS, 2, uuid.uuid4().hex[:6])[::2]  # registrations only
    await publish(system, persons, chunks=1)
    await asyncio.sleep(OUTAGE_S)
    for service in (decider, projector, query):
        service.check_alive()
    started_in = await asyncio.to_thread(postgres.start)
    restarted.append(time.monotonic())
    print(
        f"PostgreSQL down for {restarted[0] - down_at:.1f} s, accepting connections again"
        f" ({started_in:.1f} s to start); the stream is "
        + ("still running" if not publishing.done() else "over")
    )
    partitions = [TopicPartition(system.events_topic, p) for p in range(system.partitions)]
    backlog = await end_offsets(system.as_kafka_user(KafkaRole.AUDITOR), partitions)
    await applied_up_to(system, backlog)
    backlog_applied = time.monotonic() - restarted[0]
    print(
        f"projections applied the {sum(backlog.values())} offsets on the log at the restart"
        f" {backlog_applied:.1f} s after it"
    )

    await publishing
    stream_s = time.monotonic() - began
    messages = messages + persons
    await decided(system, messages)
    await healthy_and_caught_up(system, seconds=180)
    caught_up = time.monotonic() - restarted[0]
    print(
        f"stream of {len(messages)} submissions over {stream_s:.1f} s;"
        f" all caught up {caught_up:.1f} s after the restart"
    )
    await asyncio.to_thread(eventually, lambda: probe.first_200_after.get("projections"), 60)
    probing.set()
    await probing_task
    print(f"query service, first 200 after the restart: {probe.first_200_after}")
    print(f"query service answers: {dict(probe.answers)}")

    for service in (decider, projector, query):
        service.check_alive()
    assert probe.wrong == [], probe.wrong[:10]
    assert probe.answers["health 503 database_unavailable"] > 0, "the outage showed"
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        answer = await client.get("/health/projections")
    assert answer.status_code == 200, answer.text
    output = projector.log.read_text(errors="replace")
    assert "trying again" in output
    assert "cannot apply" not in output
    async with connect(system.postgres_dsn) as conn:
        assert await conn.fetch("SELECT * FROM projection_errors") == []
        assert await conn.fetch("SELECT * FROM projection_retrying") == []

    live = await snapshot(system)
    for service in (projector, query, decider):
        await asyncio.to_thread(service.stop)
    events = await whole_topic(system, system.events_topic)
    assert len(events) == len(messages), "each submission is one accepted event"
    assert sorted((r["log_partition"], r["log_offset"]) for r in live["audit_trail"]) == sorted(
        (partition, offset) for partition, offset, _ in events
    ), "every event applied once: none skipped, none twice"
    await assert_equals_a_rebuild(system, live)


async def until_answered(
    client: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: Any
) -> httpx.Response:
    """Ask until the answer has ``status``; every answer before must be 503
    database_unavailable (never a 500, never a hang)."""
    async with asyncio.timeout(60):
        while True:
            answer = await client.request(method, path, **kwargs)
            if answer.status_code == status:
                return answer
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "database_unavailable", answer.text
            await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_services_started_while_postgres_is_down_wait_for_it(
    system: Settings, postgres: OwnPostgres, tmp_path: Path
) -> None:
    """The projector, the query service and the gateway start while PostgreSQL is down: none
    exits, the HTTP services answer 503 database_unavailable (the gateway's token lookup too),
    and all of them go on by themselves once PostgreSQL is up."""
    async with connect(system.postgres_dsn) as conn:
        _, auditor = await tokens.create(conn, TokenRole.AUDITOR, [], "outage test")
        _, office = await tokens.create(conn, TokenRole.DEPARTMENT, ["信访办"], "outage test")
    await asyncio.to_thread(postgres.stop)
    system = system.model_copy(update={"gateway_port": free_port()})
    running = start_services(system, tmp_path, *SERVICES)
    messages = submissions(300, 3, uuid.uuid4().hex[:6], personal=False)
    await publish(system, messages, chunks=3)
    await decided(system, messages)  # the decider needs PostgreSQL only for persons' keys
    persons = submissions(2 * PERSONS, 2, uuid.uuid4().hex[:6])[::2]  # registrations only
    await publish(system, persons, chunks=1)
    query_url = f"http://127.0.0.1:{system.query_port}"
    gateway_url = f"http://127.0.0.1:{system.gateway_port}"
    await asyncio.to_thread(eventually, lambda: answers(query_url), 60, query_url)
    await asyncio.to_thread(eventually, lambda: answers(gateway_url), 60, gateway_url)
    case_id = f"OUTAGE-{uuid.uuid4().hex[:8]}"
    async with (
        httpx.AsyncClient(base_url=query_url, timeout=15, headers=bearer(auditor)) as query,
        httpx.AsyncClient(base_url=gateway_url, timeout=30, headers=bearer(office)) as gateway,
    ):
        for path in ("/health", "/health/projections", "/cases"):
            answer = await query.get(path)
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "database_unavailable"
        answer = await gateway.post("/submissions", json=register_body(case_id))
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "database_unavailable"
        for service in running:
            service.check_alive()

        await asyncio.to_thread(postgres.start)
        up = time.monotonic()
        await decided(system, persons)  # their keys are stored now
        messages += persons
        await until_answered(query, "GET", "/health", 200)
        health_s = time.monotonic() - up
        await until_answered(gateway, "POST", "/submissions", 201, json=register_body(case_id))
        gateway_s = time.monotonic() - up
        await healthy_and_caught_up(system)
        caught_up_s = time.monotonic() - up
        await until_answered(query, "GET", f"/cases/{case_id}", 200)
        print(
            f"\nafter PostgreSQL started: query /health 200 in {health_s:.1f} s, the gateway"
            f" accepted a submission in {gateway_s:.1f} s, projections caught up in"
            f" {caught_up_s:.1f} s"
        )
    output = running[SERVICES.index("projector")].log.read_text(errors="replace")
    assert "connecting to PostgreSQL" in output
    assert "trying again" in output
    for service in running:
        service.check_alive()
    live = await snapshot(system)
    for service in running:
        await asyncio.to_thread(service.stop)
    assert len(live["audit_trail"]) == len(messages) + 1
