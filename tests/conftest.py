"""Fixtures for the tests that need the real Kafka broker and PostgreSQL.

The session starts whichever server does not answer yet (``casetrail infra up``), gives the run
its own topic prefix and database so it never touches demo data, and at the end removes them and
stops exactly the servers it started."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from projections.db import connect
from services import tokens
from services.adapters.kafka import delete_topics
from services.demo import OFFICERS_FILE
from services.infra import components
from services.infra.servers import free_port
from services.settings import Settings, with_database
from services.tokens import TokenRole
from tests.support import RUNNING, Service, casetrail, eventually, healthy

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def settings() -> Settings:
    tag = uuid.uuid4().hex[:8]
    # The repository's own state directory, unless one is given (a second local Kafka).
    base = (
        Settings() if "CASETRAIL_STATE_DIR" in os.environ else Settings(state_dir=ROOT / ".local")
    )
    dsn = with_database(base.postgres_dsn, f"casetrail_test_{tag}")
    return base.model_copy(
        update={
            "topic_prefix": f"test-{tag}",
            "postgres_dsn": dsn,
            "partitions": 3,
            "gateway_port": free_port(),
            "query_port": free_port(),
            "outcome_timeout_s": 20.0,
            "officers_file": OFFICERS_FILE,
            # Any free port: tests start several deciders side by side.
            "decider_health_port": 0,
            "projector_metrics_port": 0,  # and projectors
            # Snapshots often: every take-over of every test (the fault suite's kills and
            # rebalances too) loads one and folds the tail after it.
            "decider_snapshot_every": 25,
            # Two cases in memory beside the changed ones: the others are read from the case
            # store whenever a submission names them, in every test.
            "decider_hot_cases": 2,
        }
    )


@pytest.fixture(scope="session")
def servers(settings: Settings) -> Iterator[Settings]:
    local = components(settings)
    already = {name: server.status().answering for name, server in local.items()}
    up = casetrail(settings, "infra", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield settings
    finally:
        asyncio.run(delete_topics(settings))
        asyncio.run(_drop_database(settings))
        started = [name for name, answering in already.items() if not answering]
        if started:
            down = casetrail(settings, "infra", "down", *started)
            assert down.returncode == 0, down.stdout + down.stderr


async def make_token(settings: Settings, role: TokenRole, departments: list[str]) -> str:
    async with connect(settings.postgres_dsn) as conn:
        _, secret = await tokens.create(conn, role, departments, f"tests {role}")
    return secret


@pytest.fixture(scope="session")
async def petition_office_token(servers: Settings) -> str:
    """A token of 信访办, the department of the tests' petition officer."""
    return await make_token(servers, TokenRole.DEPARTMENT, ["信访办"])


@pytest.fixture(scope="session")
async def auditor_token(servers: Settings) -> str:
    return await make_token(servers, TokenRole.AUDITOR, [])


async def _drop_database(settings: Settings) -> None:
    database = urlsplit(settings.postgres_dsn).path.lstrip("/")
    async with connect(with_database(settings.postgres_dsn, "postgres")) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def no_stray_services() -> Iterator[None]:
    """A service process a test started is stopped when the test ends, pass or fail."""
    before = set(RUNNING)
    yield
    for service in set(RUNNING) - before:
        service.stop()


@pytest.fixture(scope="session")
def services(
    servers: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Service]]:
    log_dir = tmp_path_factory.mktemp("service-logs")
    running = {
        name: Service(name, servers, log_dir)
        for name in ("decider", "projector", "gateway", "query")
    }
    for service in running.values():
        service.start()
    try:
        for port in (servers.gateway_port, servers.query_port):
            url = f"http://127.0.0.1:{port}"
            eventually(lambda url=url: healthy(url), 60, url)  # type: ignore[misc]
        yield running
        for service in running.values():
            service.check_alive()  # a service that died during the tests is a failure too
    finally:
        for service in running.values():
            service.stop()
