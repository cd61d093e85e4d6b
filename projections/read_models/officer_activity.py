"""officer_activity: every action of every officer, for accountability reviews (倒查)."""

from collections.abc import Sequence
from typing import Any

from projections.db import Connection
from projections.projection import LoggedEvent


class OfficerActivity:
    name = "officer_activity"
    version = 1
    tables: tuple[str, ...] = ("officer_activity",)
    ddl = """
    CREATE TABLE officer_activity (
        officer_id   text NOT NULL,
        occurred_at  timestamptz NOT NULL,
        recorded_at  timestamptz NOT NULL,
        event_id     uuid PRIMARY KEY,
        case_id      text NOT NULL,
        case_type    text NOT NULL,
        version      integer NOT NULL,
        type         text NOT NULL,
        role         text NOT NULL,
        department   text NOT NULL,
        certificate  text
    );
    """
    indexes = """
    CREATE INDEX IF NOT EXISTS officer_activity_officer
        ON officer_activity (officer_id, occurred_at, event_id);
    CREATE INDEX IF NOT EXISTS officer_activity_department
        ON officer_activity (department, occurred_at);
    """

    async def apply(
        self, conn: Connection, batch: Sequence[LoggedEvent], memo: dict[str, Any] | None = None
    ) -> None:
        await conn.copy_records_to_table(
            "officer_activity",
            records=[
                (
                    e.actor.officer_id,
                    e.occurred_at,
                    e.recorded_at,
                    e.event_id,
                    e.case_id,
                    e.case_type.value,
                    e.version,
                    e.type,
                    e.actor.role,
                    e.actor.department,
                    e.actor.certificate,
                )
                for e in (logged.event for logged in batch)
            ],
        )
