"""case_facts on the real PostgreSQL: what the fold adds up must fit its columns, so that no
history, however long, stops the projection; case_fact_versions: what was valid at an instant
is what folding up to it gives."""

from datetime import timedelta

import asyncpg

from events.as_of import Basis
from projections.queries import statistics
from projections.queries.statistics import VALID_AT, Dimension, facts_as_of
from tests.integration.conftest import project_cases
from tests.unit.domain.support import (
    PETITION_OFFICER,
    accepted,
    actor,
    china,
    example_payload,
    run,
)
from tests.unit.test_case_facts import ACCEPT, COLUMNS, REGISTER, close, handle, opinion

AROUND = (-timedelta(microseconds=1), timedelta(0), timedelta(microseconds=1))


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


async def test_the_fact_versions_valid_at_any_instant_are_the_facts_folded_up_to_it(
    read_models: asyncpg.Pool,
) -> None:
    """``case_fact_versions`` on the real PostgreSQL, written as the projector writes batches (a
    case's versions closed within a batch, and by the next batch): at every instant around each
    step, on both bases, the one row valid then is the facts row folded from the events that
    count by then (``facts_as_of``, the log's own answer), and none before the case began. The
    steps are entered late and out of order: one happened before its predecessor, one is
    recorded with an earlier clock than its predecessor (what the log of another decider's
    clock, or an imported history, may hold), so that the running maxima matter."""
    late = [
        (REGISTER.at, REGISTER.at),
        (ACCEPT.at, ACCEPT.at + timedelta(days=5)),
        # Happened before the acceptance (a late entry), recorded after it.
        (china(2020, 6, 2, 15), china(2020, 6, 9)),
        # Recorded by a clock behind the one that recorded the step before.
        (china(2020, 8, 10), china(2020, 6, 8)),
        (china(2020, 8, 11), china(2020, 8, 11)),
    ]
    _, decided = run(
        [REGISTER, ACCEPT, handle(china(2020, 6, 10)), opinion(late[3][0]), close(late[4][0])]
    )
    # Then entered as the clerks entered them (the projection folds what the log holds).
    events = [
        e.model_copy(update={"occurred_at": happened, "recorded_at": recorded})
        for e, (happened, recorded) in zip(decided, late, strict=True)
    ]
    async with read_models.acquire() as conn:
        await project_cases(conn, events[:2])
        await project_cases(conn, events[2:], first_offset=2)
        stored = await conn.fetchval("SELECT count(*) FROM case_fact_versions")
        assert stored == len(events)
        instants = sorted(
            {t + d for e in events for t in (e.occurred_at, e.recorded_at) for d in AROUND}
        )
        counted = set()
        for basis in Basis:
            for at in instants:
                rows = await conn.fetch(
                    f"SELECT {', '.join(COLUMNS)} FROM case_fact_versions"
                    " WHERE " + VALID_AT[basis].format(at="$1"),
                    at,
                )
                expected = facts_as_of(events, at, basis)
                assert [tuple(r) for r in rows] == expected, (basis, at)
                counted.add((basis, len(expected)))
    # Both bases saw the case missing, and there.
    assert counted == {(b, n) for b in Basis for n in (0, 1)}
