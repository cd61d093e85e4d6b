"""What the read-side tests on the real PostgreSQL share: a database of their own with every
projection's live build, and the cases projection applying events as the projector does."""

import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from events.model import Event
from projections import apply, builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import Connection, connect, create_pool
from projections.projection import LoggedEvent
from services.settings import Settings, with_database


@pytest.fixture
async def read_models(servers: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database holding every projection's (empty) live build."""
    name = f"casetrail_read_{uuid.uuid4().hex[:8]}"
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        pool = await create_pool(with_database(servers.postgres_dsn, name), max_size=2)
        try:
            await ensure_schema(pool)
            yield pool
        finally:
            await pool.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def project_cases(conn: Connection, events: Sequence[Event], first_offset: int = 0) -> None:
    """Apply ``events`` (partition 0, offsets from ``first_offset``) to the live cases build in
    one transaction, as the projector writes a batch."""
    async with conn.transaction():
        build = await builds.live_build(conn, "cases")
        assert build is not None
        await builds.use_build(conn, "cases", build)
        batch = [LoggedEvent(e, 0, first_offset + i) for i, e in enumerate(events)]
        await apply.write_batch(conn, PROJECTIONS["cases"], "events", 0, batch)
