"""A live build an earlier release made is named, so that the demo (and an operator) rebuilds it
rather than reading tables that are not this release's."""

import asyncpg

from projections import builds
from projections.catalog import PROJECTIONS


async def test_a_live_build_of_an_older_schema_is_outdated(read_models: asyncpg.Pool) -> None:
    async with read_models.acquire() as conn:
        assert await builds.outdated(conn, PROJECTIONS.values()) == []
        await conn.execute(
            "UPDATE projection_builds SET schema_version = 2"
            " WHERE projection = 'cases' AND state = 'live'"
        )
        assert await builds.outdated(conn, PROJECTIONS.values()) == [("cases", 2)]
