"""A deadline the calendar cannot count reaches the read side as unknown: it never stops the
projection and never turns into a guessed due day (PostgreSQL, no Kafka needed)."""

import asyncpg

from events import calendar
from events.calendar import YearSchedule, with_operator_files
from projections.queries import deadlines
from tests.integration.conftest import project_cases
from tests.unit.domain.support import PETITION_OFFICER, accepted, actor, china, example_payload


async def test_a_deadline_into_an_uncovered_year_is_stored_as_unknown(
    read_models: asyncpg.Pool,
) -> None:
    case_id = "TS-2026-0001"
    officer = actor(PETITION_OFFICER)
    schedule = YearSchedule.from_mapping(
        {"year": 2027, "notice": "测试 / test", "rest_days": ["2027-01-01", "2027-10-01"]},
        "test.toml",
    )
    # The decider had the 2027 schedule when it accepted the complaint…
    previous = calendar.use(with_operator_files([schedule]))
    try:
        state, registered = accepted(
            None,
            "complaint.register",
            example_payload("complaint.register"),
            actor=officer,
            occurred_at=china(2026, 12, 18),
            case_id=case_id,
        )
        _, accepted_event = accepted(
            state, "complaint.accept", actor=officer, occurred_at=china(2026, 12, 20)
        )
    finally:
        calendar.use(previous)
    # …the projector has not (the file was removed, or never copied to its machine).
    async with read_models.acquire() as conn:
        await project_cases(conn, [registered, accepted_event])
        rows = await deadlines.of_case(conn, case_id)
        assert [(r["clock"], r["due_day"], r["light"]) for r in rows] == [
            ("complaint.reply", None, "unknown")
        ]
        stored = await conn.fetchval(
            "SELECT uncovered_year FROM deadlines WHERE case_id = $1", case_id
        )
        assert stored == 2027
        listed = await deadlines.lit(conn, "unknown", None, None, 10)
        assert [r["case_id"] for r in listed] == [case_id]
        assert await deadlines.lit(conn, "red", None, None, 10) == []
