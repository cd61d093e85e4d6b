"""case_facts on the real PostgreSQL: what the fold adds up must fit its columns, so that no
history, however long, stops the projection."""

import asyncpg

from projections.queries import statistics
from projections.queries.statistics import Dimension
from tests.integration.conftest import project_cases
from tests.unit.domain.support import PETITION_OFFICER, accepted, actor, china, example_payload


async def test_person_visits_past_two_billion_are_counted_not_a_stopped_partition(
    read_models: asyncpg.Pool,
) -> None:
    case_id = "XF-2020-9999"
    officer = actor(PETITION_OFFICER)
    state, registered = accepted(
        None,
        "petition.register",
        example_payload("petition.register", persons=10_000),
        actor=officer,
        occurred_at=china(2020, 6, 1),
        case_id=case_id,
    )
    _, visited = accepted(
        state,
        "petition.record_visit",
        example_payload("petition.record_visit", persons=10_000),
        actor=officer,
        occurred_at=china(2020, 6, 2),
    )
    async with read_models.acquire() as conn:
        await project_cases(conn, [registered])
        # As if some 214,000 visits of 10,000 persons had been recorded before.
        await conn.execute("UPDATE case_facts SET persons = 2147480000 WHERE case_id = $1", case_id)
        await project_cases(conn, [visited], first_offset=1)
        report = await statistics.report(conn, 2020, [Dimension.CASE_TYPE])
    (petitions,) = report["rows"]
    assert petitions["persons"] == 2_147_490_000  # past 2**31 - 1
