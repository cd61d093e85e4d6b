"""The read path's guarantees on the real Kafka and PostgreSQL: projections are exact under
crashes, a rebuild never disturbs readers, and an event that cannot be applied is never skipped
(DESIGN.md, guarantee 4)."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from events.model import Event
from projections import apply, builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import connect, create_pool
from projections.projection import LoggedEvent
from projections.read_models import cases
from services.adapters.case_store import ensure_case_store
from services.adapters.kafka import client_options, create_topics, delete_topics
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.infra.servers import free_port
from services.integrity.keyring import KeyRing
from services.integrity.signing import SubmissionVerifier
from services.privacy.keystore import ensure_keystore
from services.progress import quiet
from services.projector import bulk
from services.projector import lag as lags
from services.projector.lag import Lag
from services.projector.rebuild import rebuild
from services.settings import KafkaRole, Settings, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.signing import SUITE
from tests.support import (
    Service,
    all_outcomes,
    casetrail,
    eventually,
    healthy,
    publish,
    start_services,
    submission_ids,
    whole_topic,
)

T = TypeVar("T")

ORDER = {
    "case_summary": "case_id",
    "deadlines": "case_id, clock",
    "case_facts": "case_id",
    "case_fact_versions": "case_id, version",
    "case_links": "event_id",
    "case_text": "case_id, version, field",
    "audit_trail": "event_id",
    "officer_activity": "event_id",
}


@pytest.fixture
async def isolated(servers: Settings) -> AsyncIterator[Settings]:
    """Topics and a database of its own, so that rebuilds see exactly this test's log."""
    async with own_topics_and_database(servers) as settings:
        yield settings


@asynccontextmanager
async def own_topics_and_database(servers: Settings) -> AsyncIterator[Settings]:
    """The settings of a system of its own: its topics and database, removed at the end."""
    tag = uuid.uuid4().hex[:6]
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_{tag}"
    settings = servers.isolated(f"{servers.topic_prefix}-{tag}", database)
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        await ensure_keystore(settings)  # a decider run on it seals with keys kept there
        await ensure_case_store(settings)  # and keeps its cold cases there
        await create_topics(settings, quiet)
        try:
            yield settings
        finally:
            await delete_topics(settings)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def assert_equals_a_rebuild(
    settings: Settings, live: dict[str, list[dict[str, Any]]]
) -> None:
    """Every projection rebuilt from offset 0 holds exactly the rows ``live`` (a snapshot) held:
    the live projector applied every event once, none skipped, none twice."""
    for name in PROJECTIONS:
        await rebuild(settings, name, quiet)
    assert await snapshot(settings) == live, "every read model equals a rebuild from offset 0"


async def live_audit_trail_schema(settings: Settings) -> str:
    """The schema of the audit trail's live build, created if need be (a test tampers there)."""
    pool = await create_pool(settings.postgres_dsn, max_size=1)
    try:
        await ensure_schema(pool)
        async with pool.acquire() as conn:
            return builds.schema_of(
                "audit_trail", await builds.live_build(conn, "audit_trail") or 0
            )
    finally:
        await pool.close()


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
            # Each projection on its own: caught up, or stopped at an error (one stopping first
            # says nothing of the others, which follow the log at their own pace).
            if all(sum(r.behind.values()) == 0 or r.errors for r in report):
                return report
            await asyncio.sleep(0.5)


async def healthy_and_caught_up(settings: Settings, seconds: float = 120) -> list[Lag]:
    """Waits for every projection to be healthy (no error, nothing retrying) and caught up."""
    async with asyncio.timeout(seconds):
        while True:
            async with connect(settings.postgres_dsn) as conn:
                report = await lags.lag(settings, conn)
            if all(r.healthy and sum(r.behind.values()) == 0 for r in report):
                return report
            await asyncio.sleep(0.5)


async def decided(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    await all_outcomes(settings, submission_ids(messages), seconds=180)


async def test_projector_killed_at_random_equals_a_rebuild_from_offset_zero(
    isolated: Settings, tmp_path: Path
) -> None:
    messages = submissions(4000, 8, uuid.uuid4().hex[:6])
    decider, projector = start_services(isolated, tmp_path, "decider", "projector")
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
    await assert_equals_a_rebuild(isolated, live)


async def test_a_rebuild_while_queries_run_never_shows_a_half_built_build(
    isolated: Settings, tmp_path: Path
) -> None:
    first = submissions(3000, 6, uuid.uuid4().hex[:6])
    decider, projector = start_services(isolated, tmp_path, "decider", "projector")
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
    decider = Service("decider", isolated, tmp_path)
    decider.start()
    messages = submissions(200, 2, uuid.uuid4().hex[:6])
    # The decider takes its partitions over first: one with a record it did not write on it
    # would be refused at take-over (services/decider/runtime.py).
    await publish(isolated, messages[:100], chunks=1)
    await decided(isolated, messages[:100])
    producer = AIOKafkaProducer(
        # Straight onto the events topic: only the admin user may, besides the decider.
        **client_options(isolated.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        poison = await producer.send_and_wait(
            isolated.events_topic, b'{"not": "an event"}', partition=0
        )
    finally:
        await producer.stop()
    await publish(isolated, messages[100:], chunks=1)
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


async def errors_and_retries(settings: Settings) -> tuple[list[dict[str, Any]], list[Any]]:
    async with connect(settings.postgres_dsn) as conn:
        errors = [dict(r) for r in await conn.fetch("SELECT * FROM projection_errors")]
        retrying = [dict(r) for r in await conn.fetch("SELECT * FROM projection_retrying")]
    return errors, retrying


async def test_an_event_that_applies_after_a_fix_clears_its_error_and_its_partition_goes_on(
    isolated: Settings, tmp_path: Path
) -> None:
    """An event the projection cannot apply (here a trigger refuses one case's rows, as a bug
    or a constraint would) stops its partition with an error row; once the cause is gone and
    the projector restarts, the batch that gets past the event deletes the row."""
    run = uuid.uuid4().hex[:6]
    refused = f"BENCH-{run}-000003"
    schema = await live_audit_trail_schema(isolated)
    async with connect(isolated.postgres_dsn) as conn:
        await conn.execute(
            "CREATE FUNCTION refuse_one_case() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            # The error text quotes the payload, as a validation error quotes what it refused.
            f" IF NEW.case_id = '{refused}' THEN"
            " RAISE EXCEPTION 'refused by the test: %', NEW.payload; END IF;"
            " RETURN NEW; END $$"
        )
        await conn.execute(
            f'CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".audit_trail'
            " FOR EACH ROW EXECUTE FUNCTION refuse_one_case()"
        )
    decider, projector = start_services(isolated, tmp_path, "decider", "projector")
    messages = submissions(300, 3, run)
    await publish(isolated, messages, chunks=2)
    await decided(isolated, messages)
    report = {r.projection: r for r in await caught_up(isolated)}
    stopped = report.pop("audit_trail")
    (error,) = stopped.errors
    assert "refused by the test" in error["error"]
    assert stopped.behind[error["partition"]] > 0, "its partition stops at the event"
    assert all(stopped.behind[p] == 0 for p in stopped.behind if p != error["partition"])
    assert all(r.healthy for r in report.values()), "the other projections go on"
    async with httpx.AsyncClient() as client:
        reading = isolated.model_copy(update={"query_port": free_port()})
        query = Service("query", reading, tmp_path)
        query.start()
        url = f"http://127.0.0.1:{reading.query_port}"
        await asyncio.to_thread(eventually, lambda: healthy(url), 30, url)
        answer = await client.get(f"{url}/health/projections")
        assert answer.status_code == 503
        # Without a token (or with a supervisor's): status words and counts, no error text.
        supervisor = await make_token(isolated, TokenRole.SUPERVISOR, [])
        for headers in ({}, {"Authorization": f"Bearer {supervisor}"}):
            answer = await client.get(f"{url}/health/projections", headers=headers)
            assert answer.status_code == 503
            assert answer.json()["projections"] == [
                {"projection": name, "status": word, "errors": n, "partitions_retrying": 0}
                for name, word, n in (
                    ("audit_trail", "failing", 1),
                    ("cases", "ok", 0),
                    ("officer_activity", "ok", 0),
                )
            ]
            assert "refused" not in answer.text
        auditor = await make_token(isolated, TokenRole.AUDITOR, [])
        answer = await client.get(
            f"{url}/health/projections", headers={"Authorization": f"Bearer {auditor}"}
        )
        details = {p["projection"]: p for p in answer.json()["projections"]}
        assert "refused by the test: {" in details["audit_trail"]["first_error"]

        # The fix: the cause is gone, and the projector restarts.
        async with connect(isolated.postgres_dsn) as conn:
            await conn.execute(f'DROP TRIGGER refuse ON "{schema}".audit_trail')
        await asyncio.to_thread(projector.stop)
        projector.start()
        await healthy_and_caught_up(isolated)
        assert await errors_and_retries(isolated) == ([], [])
        answer = await client.get(f"{url}/health/projections")
        assert answer.status_code == 200, answer.text
    live = await snapshot(isolated)
    assert len(live["audit_trail"]) == len(messages)
    assert sum(r["case_id"] == refused for r in live["audit_trail"]) == 3
    await asyncio.to_thread(query.stop)
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)


async def test_connections_killed_while_it_writes_are_retried_not_recorded_as_errors(
    isolated: Settings, tmp_path: Path
) -> None:
    """pg_terminate_backend on the projector's connections, again and again while it writes:
    failures that pass. No error row, nothing stops, every event applied exactly once."""
    messages = submissions(3000, 6, uuid.uuid4().hex[:6])
    decider, projector = start_services(isolated, tmp_path, "decider", "projector")
    publishing = asyncio.create_task(publish(isolated, messages, chunks=20))
    terminated = 0
    async with connect(isolated.postgres_dsn) as conn:
        while not publishing.done() or terminated < 20:
            terminated += await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            await asyncio.sleep(0.3)
    await publishing
    await decided(isolated, messages)
    report = await caught_up(isolated)
    assert all(r.healthy for r in report), report
    assert await errors_and_retries(isolated) == ([], [])
    projector.check_alive()
    output = projector.log.read_text(errors="replace")
    assert "trying again" in output
    assert "cannot apply" not in output
    live = await snapshot(isolated)
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
    events = await whole_topic(isolated, isolated.events_topic)
    assert len(live["audit_trail"]) == len(events) == len(messages)
    assert sorted((r["log_partition"], r["log_offset"]) for r in live["audit_trail"]) == sorted(
        (partition, offset) for partition, offset, _ in events
    ), "every event once, none twice"
    await assert_equals_a_rebuild(isolated, live)


async def test_a_partition_retrying_shows_in_the_health_and_in_lag_then_goes_on(
    isolated: Settings, tmp_path: Path
) -> None:
    """A failure that passes but lasts (here every write to audit_trail times out on a lock the
    test holds): the projection is reported retrying, with since when, how many attempts and
    the last error, by GET /health/projections (503) and `casetrail lag` (exit 1); no error
    row, the other projections go on, and once the lock is gone it goes on by itself."""
    schema = await live_audit_trail_schema(isolated)
    async with connect(isolated.postgres_dsn) as conn:
        database = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{database}\" SET lock_timeout = '300ms'")
    reading = isolated.model_copy(update={"query_port": free_port()})
    decider, projector, query = start_services(reading, tmp_path, "decider", "projector", "query")
    url = f"http://127.0.0.1:{reading.query_port}"
    await asyncio.to_thread(eventually, lambda: healthy(url), 30, url)
    messages = submissions(200, 2, uuid.uuid4().hex[:6])
    auditor = {"Authorization": f"Bearer {await make_token(isolated, TokenRole.AUDITOR, [])}"}
    async with (
        connect(isolated.postgres_dsn) as holder,
        httpx.AsyncClient(base_url=url, headers=auditor) as client,
    ):
        locked = holder.transaction()
        await locked.start()
        await holder.execute(f'LOCK TABLE "{schema}".audit_trail IN ACCESS EXCLUSIVE MODE')
        await publish(isolated, messages, chunks=1)
        await decided(isolated, messages)

        async def retrying_twice() -> dict[str, Any]:
            async with asyncio.timeout(60):
                while True:
                    answer = await client.get("/health/projections")
                    report = {p["projection"]: p for p in answer.json()["projections"]}
                    if any(r["attempts"] >= 2 for r in report["audit_trail"]["retrying"]):
                        assert answer.status_code == 503
                        return report
                    await asyncio.sleep(0.3)

        report = await retrying_twice()
        retry = report["audit_trail"]["retrying"][0]
        assert retry["summary"].startswith("retrying since ")
        assert "LockNotAvailableError" in retry["last_error"], retry
        assert report["audit_trail"]["errors"] == 0
        assert report["cases"]["healthy"]
        assert report["officer_activity"]["healthy"]
        lag = await asyncio.to_thread(casetrail, isolated, "lag")
        assert lag.returncode == 1
        assert "retrying since" in lag.stdout
        assert "LockNotAvailableError" in lag.stdout
        async with asyncio.timeout(60):  # the other projections go on meanwhile
            while True:
                async with connect(isolated.postgres_dsn) as conn:
                    others = [
                        r for r in await lags.lag(isolated, conn) if r.projection != "audit_trail"
                    ]
                if all(r.healthy and sum(r.behind.values()) == 0 for r in others):
                    break
                await asyncio.sleep(0.5)

        await locked.rollback()
        await healthy_and_caught_up(isolated)
        answer = await client.get("/health/projections")
        assert answer.status_code == 200, answer.text
    assert await errors_and_retries(isolated) == ([], [])
    live = await snapshot(isolated)
    assert len(live["audit_trail"]) == len(messages)
    for service in (query, projector, decider):
        await asyncio.to_thread(service.stop)


async def test_a_retry_report_that_arrives_late_never_outlives_the_write_that_went_through(
    isolated: Settings,
) -> None:
    """The report of a failed write, reaching PostgreSQL after the retried write went through
    (and cleared the partition's health), is not recorded: the partition is healthy."""
    projection = PROJECTIONS["audit_trail"]
    pool = await create_pool(isolated.postgres_dsn)
    try:
        build = await builds.ensure_live(pool, projection)
        async with pool.acquire() as conn:
            topic = isolated.events_topic
            await apply.stored_offsets(conn, projection.name, build, topic, [0])
            schema = builds.schema_of(projection.name, build)
            await conn.execute(
                f'UPDATE "{schema}".projection_checkpoint SET next_offset = 10'
                " WHERE topic = $1 AND partition = 0",
                topic,
            )
            since = datetime.now(UTC)
            await apply.record_retrying(conn, projection.name, build, topic, 0, since, 1, "x", 4)
            assert await conn.fetchval("SELECT count(*) FROM projection_retrying") == 0
            await apply.record_retrying(conn, projection.name, build, topic, 0, since, 1, "x", 10)
            assert await conn.fetchval("SELECT count(*) FROM projection_retrying") == 1
    finally:
        await pool.close()


async def live_and_caught_up(
    settings: Settings, tmp_path: Path, messages: list[tuple[str, bytes]]
) -> dict[str, list[dict[str, Any]]]:
    """The live projector's rows once ``messages`` are decided and applied (services stopped)."""
    decider, projector = start_services(settings, tmp_path, "decider", "projector")
    await publish(settings, messages, chunks=3)
    await decided(settings, messages)
    report = await caught_up(settings)
    assert all(r.healthy for r in report), report
    live = await snapshot(settings)
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
    return live


async def test_a_rebuild_in_worker_processes_and_small_batches_equals_the_live_projection(
    isolated: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker processes (forced: the log is small), and batches so small that every case spans
    several of them, so that states come from the memo or back from the build and rows are
    replaced through the staging tables; then in this process, remembering only four cases."""
    live = await live_and_caught_up(isolated, tmp_path, submissions(400, 9, uuid.uuid4().hex[:6]))
    assert len(live["audit_trail"]) == 400
    monkeypatch.setattr(bulk, "IN_PROCESS_BELOW", 0)
    for name in PROJECTIONS:
        await rebuild(isolated, name, quiet, batch_size=7)
    assert await snapshot(isolated) == live
    monkeypatch.setattr(bulk, "IN_PROCESS_BELOW", 10**9)
    monkeypatch.setattr(cases, "MEMO_CASES", 4)
    await rebuild(isolated, "cases", quiet, batch_size=5)
    assert await snapshot(isolated) == live


async def test_an_interrupted_rebuild_resumes_its_build_and_equals_the_live_projection(
    isolated: Settings, tmp_path: Path
) -> None:
    live = await live_and_caught_up(isolated, tmp_path, submissions(600, 6, uuid.uuid4().hex[:6]))
    for name in ("cases", "audit_trail"):
        running = asyncio.create_task(rebuild(isolated, name, quiet, batch_size=3))
        async with connect(isolated.postgres_dsn) as conn:
            building: int = await eventually_async(
                partial(
                    conn.fetchval,
                    "SELECT build FROM projection_builds WHERE projection = $1"
                    " AND state = 'building'",
                    name,
                )
            )
            schema = builds.schema_of(name, building)
            # Some batches are in: the checkpoints have moved (this waits out creating the
            # build's tables, whose checkpoint table may not exist yet).
            await eventually_async(partial(loaded_so_far, conn, schema))
            running.cancel()  # as a rebuild killed mid-way: the open transaction rolls back
            with pytest.raises(asyncio.CancelledError):
                await running
            stored = await conn.fetch(
                f'SELECT partition, next_offset FROM "{schema}".projection_checkpoint'
            )
            loaded = sum(r["next_offset"] for r in stored)
            assert 0 < loaded < len(live["audit_trail"]), "interrupted part of the way"
            if name == "audit_trail":
                # Rows and checkpoints match: every row below its partition's checkpoint, and
                # as many rows as events there.
                rows = await conn.fetch(
                    f'SELECT log_partition, count(*), max(log_offset) FROM "{schema}".audit_trail'
                    " GROUP BY log_partition"
                )
                ends = {r["partition"]: r["next_offset"] for r in stored}
                assert all(r["max"] < ends[r["log_partition"]] for r in rows)
        said: list[str] = []
        assert await rebuild(isolated, name, said.append) == building
        assert f"{name}: resuming build {building} where an interrupted rebuild left it" in said
    assert await snapshot(isolated) == live


async def loaded_so_far(conn: asyncpg.Connection, schema: str) -> int | None:
    """How far a build's checkpoints are, summed; None before any has moved."""
    try:
        loaded: int | None = await conn.fetchval(
            f'SELECT nullif(sum(next_offset), 0) FROM "{schema}".projection_checkpoint'
        )
    except asyncpg.UndefinedTableError:
        return None
    return loaded


async def eventually_async(probe: Callable[[], Awaitable[T | None]], seconds: float = 60) -> T:
    """What ``probe`` finds, once it finds something (polled every 10 ms)."""
    async with asyncio.timeout(seconds):
        while True:
            found = await probe()
            if found is not None:
                return found
            await asyncio.sleep(0.01)


async def test_a_projector_far_behind_catches_up_in_bulk_then_goes_on_live(
    isolated: Settings, tmp_path: Path
) -> None:
    """A projector started after the log has grown (catch-up threshold lowered to 100 events)
    loads its backlog with the bulk loader's worker processes, into the live build; then it
    goes on event by event, and the result equals a rebuild."""
    run = uuid.uuid4().hex[:6]
    first, second = submissions(900, 9, run), submissions(90, 9, run + "b")
    behind = isolated.model_copy(update={"projector_catch_up_events": 100})
    decider = Service("decider", behind, tmp_path)
    decider.start()
    await publish(behind, first, chunks=3)
    await decided(behind, first)
    await live_audit_trail_schema(behind)  # the live builds, empty, as a reader would make
    projector = Service("projector", behind, tmp_path)
    projector.start()
    report = await caught_up(behind)
    assert all(r.healthy for r in report), report
    log = projector.log.read_text()
    for name in PROJECTIONS:
        assert f"{name}: caught up 900 events in bulk" in log, log[-3000:]
    await publish(behind, second, chunks=1)
    await decided(behind, first + second)
    report = await caught_up(behind)
    assert all(r.healthy for r in report), report
    live = await snapshot(behind)
    projector.check_alive()
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
    assert len(live["audit_trail"]) == len(first) + len(second)
    await assert_equals_a_rebuild(behind, live)


def decided_events(count: int) -> list[Event]:
    """The events of ``count`` submissions (two per case), decided by the decider's pure core."""
    state = PartitionState(
        load_officers(OFFICERS_FILE),
        SubmissionVerifier(KeyRing(), required=False, suite=SUITE),
        suite=SUITE,
    )
    events: list[Event] = []
    for _, value in submissions(count, 2, uuid.uuid4().hex[:6], personal=False):
        events += state.decide_record(value, datetime(2020, 12, 31, tzinfo=UTC)).events
        state.commit()
    return events


async def test_the_batches_of_several_partitions_are_written_together_or_not_at_all(
    isolated: Settings,
) -> None:
    """What one fetch brought, in one transaction: each partition's rows and checkpoint; a
    partition whose checkpoint another instance moved meanwhile is left as it is (its stored
    offset returned); and an event that cannot be applied leaves every partition unwritten."""
    projection = PROJECTIONS["audit_trail"]
    events = decided_events(12)
    assert len(events) == 12
    pool = await create_pool(isolated.postgres_dsn)
    topic = isolated.events_topic
    try:
        build = await builds.ensure_live(pool, projection)
        schema = builds.schema_of(projection.name, build)
        async with pool.acquire() as conn:
            await apply.stored_offsets(conn, projection.name, build, topic, [0, 1, 2])
            await conn.execute(
                f'UPDATE "{schema}".projection_checkpoint SET next_offset = 7'
                " WHERE topic = $1 AND partition = 2",
                topic,
            )

            def logged(partition: int, first: int, chosen: list[Event]) -> list[LoggedEvent]:
                return [LoggedEvent(e, partition, first + i) for i, e in enumerate(chosen)]

            stored = await apply.write_live_together(
                conn,
                projection,
                build,
                topic,
                {
                    0: (0, logged(0, 0, events[0:4])),
                    1: (0, logged(1, 0, events[4:6])),
                    2: (0, logged(2, 0, events[6:8])),  # another instance is at 7 already
                },
            )
            assert stored == {0: 4, 1: 2, 2: 7}
            written = f'SELECT count(*) FROM "{schema}".audit_trail'
            assert await conn.fetchval(written) == 6
            offsets = await apply.stored_offsets(conn, projection.name, build, topic, [0, 1, 2])
            assert offsets == {0: 4, 1: 2, 2: 7}

            # Partition 1's batch holds an event the trail has already: nothing at all is
            # written, partition 0's good events neither.
            with pytest.raises(asyncpg.UniqueViolationError):
                await apply.write_live_together(
                    conn,
                    projection,
                    build,
                    topic,
                    {
                        0: (4, logged(0, 4, events[8:10])),
                        1: (2, logged(1, 2, [events[10], events[0]])),
                    },
                )
            assert await conn.fetchval(written) == 6
            offsets = await apply.stored_offsets(conn, projection.name, build, topic, [0, 1, 2])
            assert offsets == {0: 4, 1: 2, 2: 7}
    finally:
        await pool.close()
