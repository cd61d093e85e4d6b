"""Closed cases whose retention period has ended: what the retention job erases."""

from datetime import datetime
from typing import Any

from projections.db import Connection, fetch_dicts


async def closed_before(conn: Connection, limits: dict[str, datetime]) -> list[dict[str, Any]]:
    """Cases of each type closed before that type's limit, oldest closure first."""
    if not limits:
        return []
    types, befores = list(limits), [limits[t] for t in limits]
    return await fetch_dicts(
        conn,
        "SELECT s.case_id, s.case_type, s.owner_department, s.closed_at"
        " FROM case_summary s"
        " JOIN unnest($1::text[], $2::timestamptz[]) AS l(case_type, before)"
        "   ON l.case_type = s.case_type"
        " WHERE s.closed_at IS NOT NULL AND s.closed_at < l.before"
        " ORDER BY s.closed_at, s.case_id",
        types,
        befores,
    )
