"""The read path's guarantees on the real Kafka and PostgreSQL: projections are exact under
crashes, a rebuild never disturbs readers, and an event that cannot be applied is never skipped
(DESIGN.md, guarantee 4)."""

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaProducer

from projections.catalog import PROJECTIONS
from projections.db import connect
from services.adapters.kafka import create_topics, delete_topics
from services.bench.workload import submissions
from services.progress import quiet
from services.projector import lag as lags
from services.projector.lag import Lag
from services.projector.rebuild import rebuild
from services.settings import Settings, with_database
from tests.integration.test_decider_guarantees import all_outcomes, publish
from tests.support import Service, casetrail

ORDER = {
    "case_summary": "case_id",
    "deadlines": "case_id, clock",
    "case_facts": "case_id",
    "audit_trail": "event_id",
    "officer_activity": "event_id",
}


@pytest.fixture
async def isolated(servers: Settings) -> AsyncIterator[Settings]:
    """Topics and a database of its own, so that rebuilds see exactly this test's log."""
    tag = uuid.uuid4().hex[:6]
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_{tag}"
    settings = servers.isolated(f"{servers.topic_prefix}-{tag}", database)
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        await create_topics(settings, quiet)
        try:
            yield settings
        finally:
            await delete_topics(settings)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def snapshot(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    async with connect(settings.postgres_dsn) as conn:
        return {
            table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")]
            for table, key in ORDER.items()
        }


async def caught_up(settings: Settings, seconds: float = 120) -> list[Lag]:
    async with asyncio.timeout(seconds):
        while True:
            async with connect(settings.postgres_dsn) as conn:
                report = await lags.lag(settings, conn)
            if all(sum(r.behind.values()) == 0 for r in report) or any(r.errors for r in report):
                return report
            await asyncio.sleep(0.5)


async def decided(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    expected = {json.loads(value)["submission_id"] for _, value in messages}
    await all_outcomes(settings, expected, seconds=180)


async def test_projector_killed_at_random_equals_a_rebuild_from_offset_zero(
    isolated: Settings, tmp_path: Path
) -> None:
    messages = submissions(4000, 8, uuid.uuid4().hex[:6])
    decider, projector = (
        Service("decider", isolated, tmp_path),
        Service("projector", isolated, tmp_path),
    )
    decider.start()
    projector.start()
    chaos = random.Random(5)
    publishing = asyncio.create_task(publish(isolated, messages, chunks=30))
    kills = 0
    while not publishing.done() or kills < 3:
        await asyncio.sleep(chaos.uniform(0.5, 2.5))
        await asyncio.to_thread(projector.stop, True)  # SIGKILL, mid-batch or not
        projector.start()
        kills += 1
    await publishing
    await decided(isolated, messages)
    report = await caught_up(isolated)
    assert all(r.healthy for r in report), report
    live = await snapshot(isolated)
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
    assert len(live["audit_trail"]) == len(messages)

    for name in PROJECTIONS:
        await rebuild(isolated, name, quiet)
    assert await snapshot(isolated) == live


async def test_a_rebuild_while_queries_run_never_shows_a_half_built_build(
    isolated: Settings, tmp_path: Path
) -> None:
    first = submissions(3000, 6, uuid.uuid4().hex[:6])
    decider, projector = (
        Service("decider", isolated, tmp_path),
        Service("projector", isolated, tmp_path),
    )
    decider.start()
    projector.start()
    await publish(isolated, first, chunks=3)
    await decided(isolated, first)
    await caught_up(isolated)
    before = await snapshot(isolated)
    queries, failures, smallest = 0, [], len(before["audit_trail"])

    async def read_all_the_time(stop: asyncio.Event) -> None:
        nonlocal queries, smallest
        async with connect(isolated.postgres_dsn) as conn:
            while not stop.is_set():
                try:
                    rows = await conn.fetchval("SELECT count(*) FROM audit_trail")
                    cases = await conn.fetchval("SELECT count(*) FROM case_summary")
                    smallest = min(smallest, rows)
                    assert cases == len(before["case_summary"]), cases
                    queries += 1
                except Exception as error:
                    failures.append(repr(error))
                await asyncio.sleep(0.005)

    stop = asyncio.Event()
    readers = [asyncio.create_task(read_all_the_time(stop)) for _ in range(3)]
    try:
        for name in ("audit_trail", "cases"):
            await rebuild(isolated, name, quiet)
    finally:
        stop.set()
        await asyncio.gather(*readers)
    assert failures == []
    assert queries > 50
    assert smallest == len(before["audit_trail"]), "a reader saw a build before it was complete"

    # The live projector carries on in the new builds.
    second = submissions(600, 6, uuid.uuid4().hex[:6])
    await publish(isolated, second, chunks=2)
    await decided(isolated, second)
    await caught_up(isolated)
    after = await snapshot(isolated)
    assert len(after["audit_trail"]) == len(first) + len(second)
    projector.check_alive()
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)


async def test_an_event_that_cannot_be_applied_stops_only_its_partition(
    isolated: Settings, tmp_path: Path
) -> None:
    projector = Service("projector", isolated, tmp_path)
    projector.start()
    producer = AIOKafkaProducer(bootstrap_servers=isolated.kafka_bootstrap)
    await producer.start()
    try:
        poison = await producer.send_and_wait(
            isolated.events_topic, b'{"not": "an event"}', partition=0
        )
    finally:
        await producer.stop()
    decider = Service("decider", isolated, tmp_path)
    decider.start()
    messages = submissions(200, 2, uuid.uuid4().hex[:6])
    await publish(isolated, messages, chunks=1)
    await decided(isolated, messages)
    report = await caught_up(isolated)
    for lag in report:
        assert not lag.healthy
        (error,) = lag.errors
        assert (error["partition"], error["log_offset"]) == (0, poison.offset)
        assert lag.behind[0] > 0, "partition 0 stops at the poison"
        assert all(lag.behind[p] == 0 for p in lag.behind if p != 0), "the others go on"
    code = await asyncio.to_thread(casetrail, isolated, "lag")
    assert code.returncode == 1
    assert f"p0@{poison.offset}" in code.stdout
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
