"""Deadlines and their lights (红灯, 黄灯, 绿灯), read from the ``deadlines`` table."""

from typing import Any

from projections.db import Connection, fetch_dicts

DEADLINE_COLUMNS = (
    "case_id",
    "case_type",
    "clock",
    "owner_department",
    "assigned_officer",
    "due_day",
    "due_at",
)


def light(alias: str) -> str:
    """The light now of the deadline row ``alias``, as SQL. A suspended clock keeps the light it
    had when it was suspended; the projection stores that light in ``paused_light``."""
    return (
        f"CASE WHEN {alias}.due_at IS NULL THEN 'unknown'"
        f" WHEN {alias}.paused_light IS NOT NULL THEN {alias}.paused_light"
        f" WHEN now() >= {alias}.due_at THEN 'red'"
        f" WHEN now() >= {alias}.yellow_from THEN 'yellow' ELSE 'green' END"
    )


async def of_case(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    """A case's open deadlines with their lights, the soonest due first."""
    return await fetch_dicts(
        conn,
        f"SELECT d.clock, d.due_day, d.due_at, {light('d')} AS light FROM deadlines d"
        " WHERE d.case_id = $1 ORDER BY d.due_at NULLS FIRST",
        case_id,
    )


async def lit(
    conn: Connection,
    colour: str,
    department: str | None,
    departments: list[str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The open deadlines whose light is ``colour``, the most urgent first: of ``department`` if
    given, and only of ``departments`` (None: of every department)."""
    columns = ", ".join(f"d.{column}" for column in DEADLINE_COLUMNS)
    return await fetch_dicts(
        conn,
        f"SELECT {columns}, {light('d')} AS light FROM deadlines d WHERE {light('d')} = $1"
        " AND ($2::text IS NULL OR d.owner_department = $2)"
        " AND ($3::text[] IS NULL OR d.owner_department = ANY($3))"
        " ORDER BY d.due_at NULLS FIRST, d.case_id LIMIT $4",
        colour,
        department,
        departments,
        limit,
    )
