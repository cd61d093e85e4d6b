"""The supervisors' measures and case links on the real PostgreSQL: the closure rate over
accepted cases, the on-time closure rate from the clocks, now and as of a past instant; links
read from both cases, shown only to readers who may read the other case (the page and the
history)."""

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from events.as_of import Basis
from events.model import Event
from projections import builds
from projections.catalog import PROJECTIONS, ensure_schema
from projections.db import connect, create_pool
from projections.projection import LoggedEvent
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.query.app import create_app
from services.settings import Settings, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.support import casetrail
from tests.unit.domain.support import MEDIATOR, PETITION_OFFICER, Action, china, example, run

XF, TJ = "信访办", "人民调解委员会"


def register(day: datetime, persons: int) -> Action:
    payload = {"channel": "visit", "persons": persons, "summary": "厂房噪音扰民"}
    return Action("petition.register", PETITION_OFFICER, day, payload)


def step(kind: str, day: datetime, payload: dict[str, Any] | None = None) -> Action:
    return Action(kind, PETITION_OFFICER, day, payload)


def link(kind: str, other: str, day: datetime, who: str = PETITION_OFFICER) -> Action:
    return Action("case.link", who, day, {"kind": kind, "other_case_id": other, "note": "关联"})


def answered(opinion_day: datetime, *more: Action) -> list[Action]:
    """A petition registered on 2020-06-01, accepted on 06-03 (due 08-03), answered on
    ``opinion_day`` and closed the day after, with ``more`` steps on the way."""
    return [
        register(china(2020, 6, 1), 2),
        step("petition.accept", china(2020, 6, 3)),
        step("petition.handle", china(2020, 6, 10), {"record": "约谈"}),
        *more,
        step("petition.issue_opinion", opinion_day, {"opinion": "依法处理"}),
        step("petition.close", opinion_day.replace(day=opinion_day.day + 1)),
    ]


ON_TIME, LATE, REFUSED, OPEN, SUSPENDED, AWAITING = (f"XF-2020-{n:04d}" for n in range(1, 7))
MEDIATION = "TJ-2020-0001"
NOT_YET = "XF-2099-0001"
"""A case nobody registered (yet): a link may name it, as the decider cannot look it up."""

CASES: dict[str, list[Action]] = {
    ON_TIME: answered(china(2020, 7, 20)),
    LATE: [
        *answered(china(2020, 8, 10)),
        link("repeat_of", ON_TIME, china(2020, 8, 12)),
    ],
    REFUSED: [
        register(china(2020, 6, 1), 5),
        step("petition.not_accept", china(2020, 6, 2), {"reason": "已经司法程序处理"}),
    ],
    OPEN: [
        register(china(2020, 6, 1), 1),
        step("petition.accept", china(2020, 6, 3)),
        link("related", NOT_YET, china(2020, 6, 4)),
    ],
    SUSPENDED: answered(
        china(2020, 8, 25),
        step("case.suspend", china(2020, 7, 20), {"reason": "等待鉴定"}),
        step("case.resume", china(2020, 8, 20), {"note": "鉴定完成"}),
    ),
    # registered at the year's end: whether it is accepted is not decided yet
    AWAITING: [register(china(2020, 12, 30), 2)],
    MEDIATION: [
        example("mediation.accept", MEDIATOR, china(2020, 6, 5)),
        link("originated_from", ON_TIME, china(2020, 6, 6), MEDIATOR),
    ],
}


def history() -> list[Event]:
    """Every case's events, one case after another (the order on a partition)."""
    return [
        event for case_id, actions in CASES.items() for event in run(actions, case_id=case_id)[1]
    ]


@pytest.fixture
async def read_side(servers: Settings) -> AsyncIterator[Settings]:
    """A database of its own holding the projections of ``history()``, as a projector writes."""
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_{uuid.uuid4().hex[:6]}"
    settings = servers.isolated(servers.topic_prefix, database)
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            await project(settings, history())
            yield settings
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def project(settings: Settings, events: Sequence[Event]) -> None:
    batch = [LoggedEvent(event, 0, offset) for offset, event in enumerate(events)]
    pool = await create_pool(settings.postgres_dsn, max_size=1)
    try:
        await ensure_schema(pool)
        async with pool.acquire() as conn:
            for name in ("cases", "audit_trail"):
                async with conn.transaction():
                    await builds.use_build(conn, name, await builds.live_build(conn, name) or 0)
                    await PROJECTIONS[name].apply(conn, batch)
    finally:
        await pool.close()


async def test_closure_over_accepted_cases_and_on_time_closure_from_the_clocks(
    read_side: Settings,
) -> None:
    async with connect(read_side.postgres_dsn) as conn:
        now = await statistics.report(conn, 2020, [Dimension.CASE_TYPE])
        by_status = await statistics.report(conn, 2020, [Dimension.STATUS])
        past = await statistics.report(
            conn, 2020, [Dimension.CASE_TYPE], china(2020, 8, 1), Basis.OCCURRED, history()
        )
        again = await statistics.report(
            conn, 2020, [Dimension.CASE_TYPE], china(2020, 12, 31), Basis.OCCURRED, history()
        )
        # The query service's way, the projection's fact versions valid then: the same.
        past_projected = await statistics.report(
            conn, 2020, [Dimension.CASE_TYPE], china(2020, 8, 1), Basis.OCCURRED
        )
    petitions = next(r for r in now["rows"] if r["case_type"] == "petition")
    # 6 registered, 1 refused and 1 not decided yet: 4 accepted, of which 3 closed; the late one
    # is not on time, the one suspended before its due day is.
    assert (petitions["cases"], petitions["accepted"], petitions["persons"]) == (6, 4, 14)
    assert (petitions["closed"], petitions["closed_on_time"]) == (3, 2)
    assert float(petitions["closure_rate"]) == 0.75
    assert float(petitions["on_time_closure_rate"]) == round(2 / 3, 4)
    mediations = next(r for r in now["rows"] if r["case_type"] == "mediation")
    assert (mediations["accepted"], mediations["closed"]) == (1, 0)
    assert mediations["closure_rate"] == 0
    assert mediations["on_time_closure_rate"] is None
    refused = next(r for r in by_status["rows"] if r["status"] == "not_accepted")
    assert (refused["cases"], refused["accepted"], refused["closure_rate"]) == (1, 0, None)
    # As of 1 August only the first petition was closed (on time); at the year's end the fold
    # of the log gives the live figures.
    then = next(r for r in past["rows"] if r["case_type"] == "petition")
    assert (then["accepted"], then["closed"], then["closed_on_time"]) == (4, 1, 1)
    assert past_projected == past
    assert again["rows"] == now["rows"]
    # The command line prints the same measures.
    printed = casetrail(read_side, "stats", "--year", "2020").stdout
    line = next(line for line in printed.splitlines() if line.startswith("petition "))
    assert "6 cases" in line
    assert "4 accepted" in line
    assert "办结率 closed 75%" in line
    assert "按期 on time 67%" in line
    mediation = next(line for line in printed.splitlines() if line.startswith("mediation "))
    assert "按期 on time n/a" in mediation


@pytest.fixture
async def query(read_side: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(read_side)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q") as client,
    ):
        yield client


async def as_reader(
    settings: Settings, client: httpx.AsyncClient, role: TokenRole, departments: list[str]
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(settings, role, departments)}"}


async def links_of(client: httpx.AsyncClient, case_id: str, token: dict[str, str]) -> set[Any]:
    response = await client.get(f"/cases/{case_id}", headers=token)
    assert response.status_code == 200, response.text
    return {
        (link["other_case_id"], link["kind"], link["direction"], link["other_status"])
        for link in response.json()["links"]
    }


async def linked_in_history(
    client: httpx.AsyncClient, case_id: str, token: dict[str, str]
) -> list[str]:
    response = await client.get(f"/cases/{case_id}/history", headers=token)
    assert response.status_code == 200, response.text
    return [s["payload"]["other_case_id"] for s in response.json() if s["type"] == "case.linked"]


async def test_links_show_from_both_cases_to_readers_who_may_read_the_other(
    read_side: Settings, query: httpx.AsyncClient
) -> None:
    petition_office = await as_reader(read_side, query, TokenRole.DEPARTMENT, [XF])
    mediators = await as_reader(read_side, query, TokenRole.DEPARTMENT, [TJ])
    both = await as_reader(read_side, query, TokenRole.SUPERVISOR, [XF, TJ])
    auditor = await as_reader(read_side, query, TokenRole.AUDITOR, [])

    # The first petition: its repeat names it (same department); so does the mediation that
    # came of it, which only a reader of the mediation committee's cases may learn of.
    repeat = (LATE, "repeat_of", "incoming", "closed")
    mediation = (MEDIATION, "originated_from", "incoming", "accepted")
    assert await links_of(query, ON_TIME, petition_office) == {repeat}
    assert await links_of(query, ON_TIME, both) == {repeat, mediation}
    assert await links_of(query, ON_TIME, auditor) == {repeat, mediation}
    assert await links_of(query, LATE, petition_office) == {
        (ON_TIME, "repeat_of", "outgoing", "closed")
    }
    # The mediation's own page: its link to a petition is hidden from the mediators, and so is
    # the petition's id in the mediation's history.
    assert await links_of(query, MEDIATION, mediators) == set()
    assert await links_of(query, MEDIATION, both) == {
        (ON_TIME, "originated_from", "outgoing", "closed")
    }
    assert await linked_in_history(query, MEDIATION, mediators) == ["***"]
    assert await linked_in_history(query, MEDIATION, both) == [ON_TIME]
    # A link to a case nobody registered: nobody's, so only a reader without limits sees it.
    assert await links_of(query, OPEN, petition_office) == set()
    assert await links_of(query, OPEN, auditor) == {(NOT_YET, "related", "outgoing", None)}
    assert await linked_in_history(query, OPEN, petition_office) == ["***"]
    assert await linked_in_history(query, OPEN, auditor) == [NOT_YET]
    # The step itself is in the history, with who recorded it and when.
    steps = (await query.get(f"/cases/{LATE}/history", headers=petition_office)).json()
    linked = steps[-1]
    assert (linked["type"], linked["actor"]["officer_id"]) == ("case.linked", PETITION_OFFICER)
    assert linked["payload"] == {"kind": "repeat_of", "other_case_id": ON_TIME, "note": "关联"}
