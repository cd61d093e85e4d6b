"""A deadline the calendar cannot count reaches the read side as unknown: it never stops the
projection and never turns into a guessed due day (PostgreSQL, no Kafka needed)."""

import uuid
from collections.abc import AsyncIterator

import pytest

from events import calendar
from events.calendar import YearSchedule, with_operator_files
from projections import apply, builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import connect, create_pool
from projections.projection import LoggedEvent
from projections.queries import deadlines
from services.settings import Settings, with_database
from tests.unit.domain.support import PETITION_OFFICER, accepted, actor, china, example_payload


@pytest.fixture
async def database(servers: Settings) -> AsyncIterator[str]:
    name = f"casetrail_calendar_{uuid.uuid4().hex[:8]}"
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(servers.postgres_dsn, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_deadline_into_an_uncovered_year_is_stored_as_unknown(database: str) -> None:
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
    pool = await create_pool(database, max_size=2)
    try:
        await ensure_schema(pool)
        async with pool.acquire() as conn:
            async with conn.transaction():
                build = await builds.live_build(conn, "cases")
                assert build is not None
                await builds.use_build(conn, "cases", build)
                batch = [LoggedEvent(e, 0, i) for i, e in enumerate([registered, accepted_event])]
                await apply.write_batch(conn, PROJECTIONS["cases"], "events", 0, batch)
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
    finally:
        await pool.close()
