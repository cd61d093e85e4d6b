"""``personal_data_reads``: every read of personal data, and by whom (DOMAIN.md, Privacy).

Not a projection of the log: the query service writes it as it answers, so it is never rebuilt.
"""

from dataclasses import dataclass
from typing import Any

from projections.db import Connection, create_tables, fetch_dicts

DDL = """
CREATE TABLE IF NOT EXISTS personal_data_reads (
    at        timestamptz NOT NULL DEFAULT now(),
    token_id  text NOT NULL,
    role      text NOT NULL,
    reader    text NOT NULL,
    case_id   text NOT NULL,
    events    integer NOT NULL
);
CREATE INDEX IF NOT EXISTS personal_data_reads_case ON personal_data_reads (case_id, at);
ALTER TABLE personal_data_reads ADD COLUMN IF NOT EXISTS reason text;
"""


@dataclass(frozen=True)
class Read:
    """One read of a case's personal data: the token, its role and holder, how many events,
    and the reason the reader gave (required for a complainant's identity)."""

    token_id: str
    role: str
    reader: str
    case_id: str
    events: int
    reason: str | None = None


async def ensure_access_log(conn: Connection) -> None:
    await create_tables(conn, DDL)


async def record(conn: Connection, read: Read) -> None:
    await conn.execute(
        "INSERT INTO personal_data_reads (token_id, role, reader, case_id, events, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        read.token_id,
        read.role,
        read.reader,
        read.case_id,
        read.events,
        read.reason,
    )


async def reads(conn: Connection, case_id: str | None, limit: int = 500) -> list[dict[str, Any]]:
    """The latest reads, newest first: of one case, or of any."""
    return await fetch_dicts(
        conn,
        "SELECT at, token_id, role, reader, case_id, events, reason FROM personal_data_reads"
        " WHERE $1::text IS NULL OR case_id = $1 ORDER BY at DESC LIMIT $2",
        case_id,
        limit,
    )
