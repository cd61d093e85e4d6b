"""case_facts on the real PostgreSQL: what the fold adds up must fit its columns, so that no
history, however long, stops the projection."""

import uuid
from collections.abc import AsyncIterator

import pytest

from projections import apply, builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import connect, create_pool
from projections.projection import LoggedEvent
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.settings import Settings, with_database
from tests.unit.domain.support import PETITION_OFFICER, accepted, actor, china, example_payload


@pytest.fixture
async def database(servers: Settings) -> AsyncIterator[str]:
    name = f"casetrail_facts_{uuid.uuid4().hex[:8]}"
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(servers.postgres_dsn, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_person_visits_past_two_billion_are_counted_not_a_stopped_partition(
    database: str,
) -> None:
    case_id = "XF-2020-9999"
    officer = actor(PETITION_OFFICER)
    state, registered = accepted(
        None,
        "petition.register",
        example_payload("petition.register", persons=10_000),
        actor=officer,
        occurred_at=china(2020, 6, 1),
        case_id=case_id,
    )
    _, visited = accepted(
        state,
        "petition.record_visit",
        example_payload("petition.record_visit", persons=10_000),
        actor=officer,
        occurred_at=china(2020, 6, 2),
    )
    pool = await create_pool(database, max_size=2)
    try:
        await ensure_schema(pool)
        async with pool.acquire() as conn:
            for offset, event in enumerate([registered, visited]):
                async with conn.transaction():
                    build = await builds.live_build(conn, "cases")
                    assert build is not None
                    await builds.use_build(conn, "cases", build)
                    batch = [LoggedEvent(event, 0, offset)]
                    await apply.write_batch(conn, PROJECTIONS["cases"], "events", 0, batch)
                    if offset == 0:
                        # As if some 214,000 visits of 10,000 persons had been recorded before.
                        await conn.execute(
                            "UPDATE case_facts SET persons = 2147480000 WHERE case_id = $1",
                            case_id,
                        )
            report = await statistics.report(conn, 2020, [Dimension.CASE_TYPE])
    finally:
        await pool.close()
    (petitions,) = report["rows"]
    assert petitions["persons"] == 2_147_490_000  # past 2**31 - 1
