"""A live build an earlier release made is named, so that the demo (and an operator) rebuilds it
rather than reading tables that are not this release's."""

from projections import builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import create_pool
from tests.integration.test_case_facts_db import database  # noqa: F401 - a fixture


async def test_a_live_build_of_an_older_schema_is_outdated(database: str) -> None:  # noqa: F811
    pool = await create_pool(database, max_size=2)
    try:
        await ensure_schema(pool)
        async with pool.acquire() as conn:
            assert await builds.outdated(conn, PROJECTIONS.values()) == []
            await conn.execute(
                "UPDATE projection_builds SET schema_version = 2"
                " WHERE projection = 'cases' AND state = 'live'"
            )
            assert await builds.outdated(conn, PROJECTIONS.values()) == [("cases", 2)]
    finally:
        await pool.close()
