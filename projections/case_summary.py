"""case_summary: one row per case, the fold of its events, with the columns supervisors filter on.

The full ``CaseState`` is kept in the ``state`` column, so applying an event is the lifecycle's
own ``evolve``: the read model can never disagree with what the decider decided from.
"""

from collections.abc import Sequence

from events.lifecycle import CaseState, evolve
from projections.base import Connection, LoggedEvent


class CaseSummary:
    name = "case_summary"
    version = 2
    ddl = """
    CREATE TABLE IF NOT EXISTS case_summary (
        case_id          text PRIMARY KEY,
        case_type        text NOT NULL,
        status           text NOT NULL,
        owner_department text NOT NULL,
        assigned_officer text,
        channel          text,
        opened_at        timestamptz NOT NULL,
        closed_at        timestamptz,
        version          integer NOT NULL,
        last_event_at    timestamptz NOT NULL,
        last_recorded_at timestamptz NOT NULL,
        state            jsonb NOT NULL
    );
    """

    async def apply(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        case_ids = sorted({logged.event.case_id for logged in batch})
        rows = await conn.fetch(
            "SELECT case_id, channel, state::text FROM case_summary WHERE case_id = ANY($1)",
            case_ids,
        )
        states = {r["case_id"]: CaseState.model_validate_json(r["state"]) for r in rows}
        channels: dict[str, str | None] = {r["case_id"]: r["channel"] for r in rows}
        last = {}
        for logged in batch:
            event = logged.event
            states[event.case_id] = evolve(states.get(event.case_id), event)
            if event.version == 1:
                channels[event.case_id] = event.payload.get("channel")
            last[event.case_id] = event
        await conn.executemany(
            """
            INSERT INTO case_summary (case_id, case_type, status, owner_department,
                assigned_officer, channel, opened_at, closed_at, version, last_event_at,
                last_recorded_at, state)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
            ON CONFLICT (case_id) DO UPDATE SET
                status = EXCLUDED.status,
                owner_department = EXCLUDED.owner_department,
                assigned_officer = EXCLUDED.assigned_officer,
                closed_at = EXCLUDED.closed_at,
                version = EXCLUDED.version,
                last_event_at = EXCLUDED.last_event_at,
                last_recorded_at = EXCLUDED.last_recorded_at,
                state = EXCLUDED.state
            """,
            [
                (
                    case_id,
                    state.case_type.value,
                    state.status,
                    state.owner_department,
                    state.assigned_officer,
                    channels.get(case_id),
                    state.opened_at,
                    state.closed_at,
                    state.version,
                    last[case_id].occurred_at,
                    last[case_id].recorded_at,
                    state.model_dump_json(),
                )
                for case_id, state in ((c, states[c]) for c in case_ids)
            ],
        )
