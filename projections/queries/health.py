"""How the projections are doing: their live builds, and events they could not apply."""

from typing import Any

from projections.db import Connection, fetch_dicts


async def errors(conn: Connection, projection: str, build: int) -> list[dict[str, Any]]:
    """The events a build could not apply, where its partitions stopped."""
    return await fetch_dicts(
        conn,
        "SELECT partition, log_offset, error, at FROM projection_errors"
        " WHERE projection = $1 AND build = $2 ORDER BY partition, log_offset",
        projection,
        build,
    )


async def live_builds(conn: Connection) -> list[dict[str, Any]]:
    """Each projection's live build, how many events it could not apply, and the first error."""
    return await fetch_dicts(
        conn,
        "SELECT b.projection, b.build, count(e.log_offset) AS errors,"
        " min(e.error) AS first_error FROM projection_builds b"
        " LEFT JOIN projection_errors e USING (projection, build)"
        " WHERE b.state = 'live' GROUP BY 1, 2 ORDER BY 1",
    )
