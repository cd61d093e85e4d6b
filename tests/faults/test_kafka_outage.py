"""Kafka stopped and started again while the gateway, the decider and the projector run, and
departments keep submitting over HTTP; the decider and the gateway are even restarted while
Kafka is away: every service rides it out by itself, and every submission is decided exactly
once (DESIGN.md, guarantees 1 and 2; rule 5 of the house).

The test runs a Kafka of its own (``tests.faults.own_kafka``) and a database of its own on the
shared PostgreSQL."""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from projections.db import connect
from services import tokens
from services.adapters.case_store import ensure_case_store
from services.bench.workload import submissions
from services.infra.servers import LocalServer, free_port
from services.privacy.keystore import ensure_keystore
from services.progress import quiet
from services.settings import Settings, with_database
from services.tokens import TokenRole
from tests.faults.own_kafka import own_kafka
from tests.integration.test_projections import (
    assert_equals_a_rebuild,
    healthy_and_caught_up,
    snapshot,
)
from tests.support import (
    assert_exactly_once,
    casetrail,
    eventually,
    free_port_block,
    healthy,
    start_services,
)

CASES, STEPS, WORKERS = 120, 5, 12
OUTAGE_AFTER_S, OUTAGE_S = 6.0, 15.0


@pytest.fixture
def kafka(servers: Settings) -> Iterator[tuple[Settings, LocalServer]]:
    with own_kafka(servers) as own:
        yield own


@pytest.fixture
async def system(kafka: tuple[Settings, LocalServer]) -> AsyncIterator[Settings]:
    """Ports and a database of its own, beside the test's Kafka."""
    base, _ = kafka
    database = f"casetrail_kafka_outage_{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={
            "postgres_dsn": with_database(base.postgres_dsn, database),
            "gateway_port": free_port_block(1),  # restarted: a port no client takes meanwhile
            "query_port": free_port(),
            "outcome_timeout_s": 3.0,
            "decider_session_timeout_ms": 6000,
        }
    )
    async with connect(with_database(base.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
    await ensure_keystore(settings)  # the decider seals personal data with keys kept there
    await ensure_case_store(settings)  # and keeps its cold cases there
    try:
        yield settings
    finally:
        async with connect(with_database(base.postgres_dsn, "postgres")) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class Client:
    """A department's client, as the README tells it to behave: resend the same submission after
    a 202 or a 503 until it has its answer."""

    url: str
    token: str
    answers: Counter[str] = field(default_factory=Counter)
    final: dict[str, int] = field(default_factory=dict)
    """submission_id → the status of its final answer."""
    accepted_at: list[float] = field(default_factory=list)

    async def submit_case(self, client: httpx.AsyncClient, steps: list[bytes]) -> None:
        for body in steps:
            submission_id = json.loads(body)["submission_id"]
            while True:
                try:
                    answer = await client.post("/submissions", content=body)
                except httpx.HTTPError as error:
                    self.answers[type(error).__name__] += 1
                    await asyncio.sleep(1)
                    continue
                code = answer.json().get("code", "") if answer.status_code >= 400 else ""
                self.answers[f"{answer.status_code} {code}".strip()] += 1
                if answer.status_code in (202, 503):
                    await asyncio.sleep(1)
                    continue
                self.final[submission_id] = answer.status_code
                if answer.status_code == 201:
                    self.accepted_at.append(time.monotonic())
                break

    async def run(self, messages: list[tuple[str, bytes]]) -> None:
        by_case: dict[str, list[bytes]] = {}
        for case_id, body in messages:
            by_case.setdefault(case_id, []).append(body)
        queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
        for steps in by_case.values():
            queue.put_nowait(steps)
        headers = {"Authorization": f"Bearer {self.token}", "content-type": "application/json"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as client:

            async def worker() -> None:
                while not queue.empty():
                    await self.submit_case(client, queue.get_nowait())

            await asyncio.gather(*(worker() for _ in range(WORKERS)))


@pytest.mark.timeout(900)
async def test_kafka_down_and_back_while_departments_submit(
    system: Settings, kafka: tuple[Settings, LocalServer], tmp_path: Path
) -> None:
    _, broker = kafka
    async with connect(system.postgres_dsn) as conn:
        _, token = await tokens.create(conn, TokenRole.DEPARTMENT, ["信访办"], "outage test")
    services = start_services(system, tmp_path, "decider", "projector", "gateway")
    gateway_url = f"http://127.0.0.1:{system.gateway_port}"
    await asyncio.to_thread(eventually, lambda: healthy(gateway_url), 60, gateway_url)

    messages = submissions(CASES * STEPS, STEPS, uuid.uuid4().hex[:6])
    client = Client(gateway_url, token)
    began = time.monotonic()
    submitting = asyncio.create_task(client.run(messages))
    await asyncio.sleep(OUTAGE_AFTER_S)
    before = len(client.accepted_at)
    await asyncio.to_thread(broker.down, quiet)
    down_at = time.monotonic()
    health_during = await asyncio.to_thread(httpx.get, f"{gateway_url}/health", timeout=10)
    # A decider and a gateway (re)started while Kafka is away must wait for it, not exit.
    decider, _, gateway = services
    for service in (decider, gateway):
        stopping = time.monotonic()
        service.check_alive()
        await asyncio.to_thread(service.stop)
        took = time.monotonic() - stopping
        print(f"{service.name} stopped in {took:.1f} s with Kafka away")
        assert took < 15, f"{service.name} needed the SIGKILL after 20 s to stop"
        service.start()
    await asyncio.sleep(OUTAGE_S)
    for service in services:
        service.check_alive()
    await asyncio.to_thread(broker.up, quiet)
    back_at = time.monotonic()
    print(
        f"\nKafka stopped {down_at - began:.1f} s into the stream ({before} steps accepted),"
        f" answering again {back_at - down_at:.1f} s later"
    )
    await asyncio.to_thread(eventually, lambda: healthy(gateway_url), 120, "gateway health")
    healthy_after = time.monotonic() - back_at
    async with asyncio.timeout(600):
        await submitting
    first_accepted = min((t for t in client.accepted_at if t > back_at), default=None)
    await healthy_and_caught_up(system, seconds=300)
    caught_up = time.monotonic() - back_at
    print(
        f"gateway /health 200 {healthy_after:.1f} s after Kafka answered again; first step"
        f" accepted {first_accepted - back_at if first_accepted else float('nan'):.1f} s after;"
        f" all {len(messages)} answered and every projection caught up {caught_up:.1f} s after"
    )
    print(f"answers the clients saw: {dict(client.answers)}")

    for service in services:
        service.check_alive()
    assert health_during.status_code == 503, health_during.text
    assert client.answers["503 kafka_unavailable"] > 0, "the outage showed to the clients"
    assert set(client.final.values()) == {201}, Counter(client.final.values())

    figures = await assert_exactly_once(system, set(client.final), resent=True)
    assert figures["accepted"] == len(messages)
    print(f"figures: {figures}")

    verified = casetrail(system, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    live = await snapshot(system)
    for service in services:
        await asyncio.to_thread(service.stop)
    await assert_equals_a_rebuild(system, live)
