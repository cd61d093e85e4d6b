"""What officers did (倒查), read from ``officer_activity``."""

from collections.abc import Sequence
from typing import Any

from projections.db import Connection, fetch_dicts


async def activity(
    conn: Connection, officer_id: str, limit: int, departments: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every action of one officer, oldest first; unless ``departments`` is None, only those
    taken for one of them (the acting officer's department at the time) on a case one of them
    owns now: a case the reader may not open must not show here either."""
    return await fetch_dicts(
        conn,
        "SELECT a.officer_id, a.occurred_at, a.recorded_at, a.event_id::text, a.case_id,"
        " a.case_type, a.version, a.type, a.role, a.department, a.certificate"
        " FROM officer_activity a"
        " WHERE a.officer_id = $1 AND ($3::text[] IS NULL OR (a.department = ANY($3::text[])"
        " AND EXISTS (SELECT 1 FROM case_summary c WHERE c.case_id = a.case_id"
        " AND c.owner_department = ANY($3::text[]))))"
        " ORDER BY a.occurred_at, a.event_id LIMIT $2",
        officer_id,
        limit,
        departments,
    )
