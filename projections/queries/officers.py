"""What officers did (倒查), read from ``officer_activity``."""

from collections.abc import Sequence
from typing import Any

from projections.db import Connection, fetch_dicts


async def activity(
    conn: Connection, officer_id: str, limit: int, departments: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every action of one officer, oldest first; only those taken for one of ``departments``
    (the acting officer's department at the time) unless that is None."""
    return await fetch_dicts(
        conn,
        "SELECT officer_id, occurred_at, recorded_at, event_id::text, case_id, case_type,"
        " version, type, role, department, certificate FROM officer_activity"
        " WHERE officer_id = $1 AND ($3::text[] IS NULL OR department = ANY($3::text[]))"
        " ORDER BY occurred_at, event_id LIMIT $2",
        officer_id,
        limit,
        departments,
    )
