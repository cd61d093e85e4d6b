"""How the projections are doing: their live builds, events they could not apply, and partitions
retrying after failures that pass (see ``services.projector.runtime``)."""

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


async def retrying(conn: Connection, projection: str, build: int) -> list[dict[str, Any]]:
    """The partitions of a build whose writes keep failing for a reason that passes: since
    when, how many attempts, the last error, when it was tried last, and all that in a line
    (``summary``)."""
    rows = await fetch_dicts(
        conn,
        "SELECT partition, since, attempts, last_error, last_attempt FROM projection_retrying"
        " WHERE projection = $1 AND build = $2 ORDER BY partition",
        projection,
        build,
    )
    for row in rows:
        row["summary"] = (
            f"retrying since {row['since']:%Y-%m-%d %H:%M:%S%z}, {row['attempts']} attempts,"
            f" last error {row['last_error']} (last tried {row['last_attempt']:%H:%M:%S})"
        )
    return rows


async def live_builds(conn: Connection) -> list[dict[str, Any]]:
    """Each projection's live build, how many events it could not apply, the first error, and
    its partitions retrying (healthy: no error and nothing retrying)."""
    report = await fetch_dicts(
        conn,
        "SELECT b.projection, b.build, count(e.log_offset) AS errors,"
        " min(e.error) AS first_error FROM projection_builds b"
        " LEFT JOIN projection_errors e USING (projection, build)"
        " WHERE b.state = 'live' GROUP BY 1, 2 ORDER BY 1",
    )
    for row in report:
        row["retrying"] = await retrying(conn, row["projection"], row["build"])
        row["healthy"] = row["errors"] == 0 and not row["retrying"]
    return report
