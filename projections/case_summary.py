"""case_summary: one row per case, its current status and version."""

from collections.abc import Sequence

from events.lifecycle import STATUS_AFTER_EVENT
from projections.base import Connection, LoggedEvent


class CaseSummary:
    name = "case_summary"
    version = 1
    ddl = """
    CREATE TABLE IF NOT EXISTS case_summary (
        case_id          text PRIMARY KEY,
        case_type        text NOT NULL,
        status           text NOT NULL,
        department       text NOT NULL,
        channel          text,
        opened_at        timestamptz NOT NULL,
        version          integer NOT NULL,
        last_event_at    timestamptz NOT NULL,
        last_recorded_at timestamptz NOT NULL
    );
    """

    async def apply(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        await conn.executemany(
            """
            INSERT INTO case_summary (case_id, case_type, status, department, channel,
                                      opened_at, version, last_event_at, last_recorded_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8)
            ON CONFLICT (case_id) DO UPDATE SET
                status = EXCLUDED.status,
                version = EXCLUDED.version,
                last_event_at = EXCLUDED.last_event_at,
                last_recorded_at = EXCLUDED.last_recorded_at
            """,
            [
                (
                    e.case_id,
                    e.case_type.value,
                    STATUS_AFTER_EVENT[e.type],
                    e.department,
                    e.payload.get("channel"),
                    e.occurred_at,
                    e.version,
                    e.recorded_at,
                )
                for e in (logged.event for logged in batch)
            ],
        )
