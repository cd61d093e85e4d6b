"""The query service answers as of a past instant from PostgreSQL, not from the log: statistics
from the cases' fact versions (``case_fact_versions``), a case from the audit trail; those
answers are the log's: on the demo's two years of cases, decided by the decider's core with late
entries (recorded days after they happened, some out of order), written to Kafka and projected
by the projector's own rebuild, every figure of ``/statistics?as_of=`` and every case of
``/cases/{id}/as-of`` equals what folding the log itself gives (the code that read the log
before is the oracle), for many instants, both bases, several groupings."""

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from events.as_of import Basis, replay
from events.model import Event
from projections.db import connect
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.adapters.event_log import case_events, read_events
from services.adapters.kafka import client_options, partitioner
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.demo.year import submissions
from services.integrity.keyring import KeyRing
from services.integrity.signing import SubmissionVerifier
from services.progress import quiet
from services.projector.rebuild import rebuild
from services.query.app import create_app
from services.settings import KafkaRole, Settings, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.signing import SUITE
from tests.support import own_topics
from tests.unit.domain.support import china

LATE = {0: timedelta(minutes=3), 1: timedelta(days=2), 2: timedelta(days=9)}
"""How long after it happened an event is recorded: mostly at once, some days later."""


def decided(seed: int = 7) -> list[Event]:
    """The demo's 2019 and 2020 as the decider decides them, each event recorded some time after
    it happened (so that as recorded and as happened differ, and a case's later event is at
    times recorded before an earlier one, which then cuts the case short)."""
    rng = random.Random(seed)
    unsigned = SubmissionVerifier(KeyRing(), required=False, suite=SUITE)
    state = PartitionState(load_officers(OFFICERS_FILE), unsigned, suite=SUITE)
    events: list[Event] = []
    for body in submissions():
        happened = datetime.fromisoformat(body["occurred_at"])
        lag = LATE[rng.choices((0, 1, 2), weights=(85, 12, 3))[0]]
        decision = state.decide_record(
            json.dumps(body, ensure_ascii=False).encode(), happened + lag
        )
        state.commit()
        events += decision.events
    return events


@pytest.fixture(scope="module")
def history() -> list[Event]:
    return decided()


@pytest.fixture(scope="module")
async def log(servers: Settings, history: list[Event]) -> AsyncIterator[Settings]:
    """The history on topics of its own (three partitions, by case), its audit trail and cases
    projected into a database of its own by the projector's rebuild."""
    database = f"casetrail_asof_{uuid.uuid4().hex[:8]}"
    async with (
        own_topics(
            servers, "asof", postgres_dsn=with_database(servers.postgres_dsn, database)
        ) as settings,
        connect(with_database(servers.postgres_dsn, "postgres")) as admin,
    ):
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            await _append(settings, history)
            await rebuild(settings, "audit_trail", quiet)
            await rebuild(settings, "cases", quiet)
            yield settings
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _append(settings: Settings, events: list[Event]) -> None:
    place = partitioner(settings.partitions)
    producer = AIOKafkaProducer(
        # Straight onto the events topic: only the admin user may (a test's log).
        **client_options(settings.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        for event in events:
            await producer.send(
                settings.events_topic,
                event.model_dump_json().encode(),
                key=event.case_id.encode(),
                partition=place(event.case_id),
            )
        await producer.flush()
    finally:
        await producer.stop()


INSTANTS = [
    china(2019, 1, 15),
    china(2019, 7, 1, 0, 0),
    china(2019, 12, 31, 23, 59),
    china(2020, 3, 5),
    china(2020, 6, 30, 18),
    china(2020, 9, 1, 8, 0),
    china(2020, 12, 31, 23, 59),
    china(2021, 2, 1),
    china(2030, 1, 1),
]
GROUPINGS = [
    [Dimension.CASE_TYPE],
    [Dimension.DEPARTMENT, Dimension.STATUS],
    [Dimension.MONTH, Dimension.CHANNEL],
]


async def test_statistics_as_of_from_the_fact_versions_equal_the_folded_log(
    log: Settings, history: list[Event]
) -> None:
    on_the_log = await read_events(log)  # the oracle: what the endpoint read before
    assert len(on_the_log) == len(history) > 3000
    answers: dict[tuple[Any, ...], Any] = {}
    async with connect(log.postgres_dsn) as conn:
        for instant in INSTANTS:
            for basis in Basis:
                for year in (2019, 2020):
                    for by in GROUPINGS:
                        expected = await statistics.report(
                            conn, year, by, instant, basis, on_the_log
                        )
                        found = await statistics.report(conn, year, by, instant, basis)
                        assert found == expected, (instant, basis, year, by)
                        answers[(instant, basis, year, tuple(by))] = found["rows"]
    # The comparisons compared something: figures that grow over the year, and the bases
    # that differ where entries were late.
    by_type = [Dimension.CASE_TYPE]
    assert answers[(INSTANTS[0], Basis.OCCURRED, 2019, tuple(by_type))] != []
    assert (
        answers[(INSTANTS[3], Basis.OCCURRED, 2020, tuple(by_type))]
        != answers[(INSTANTS[6], Basis.OCCURRED, 2020, tuple(by_type))]
    )
    assert any(
        answers[(instant, Basis.OCCURRED, year, tuple(by_type))]
        != answers[(instant, Basis.RECORDED, year, tuple(by_type))]
        for instant in INSTANTS
        for year in (2019, 2020)
    )


def _expected_case(events: list[Event], case_id: str, at: datetime, basis: Basis) -> Any:
    """What ``/cases/{id}/as-of`` answered when it replayed the log (its code then)."""
    replayed = replay(events, at, basis)
    state = replayed.state
    return {
        "case_id": case_id,
        "at": at.isoformat(),
        "basis": basis.value,
        "steps_counted": replayed.counted,
        "steps_later": len(replayed.events) - replayed.counted,
        "state": state.model_dump(mode="json") if state else None,
        "lights": {c.rule: c.light(at) for c in state.clocks} if state else {},
    }


async def test_a_case_as_of_from_the_audit_trail_equals_its_replayed_log(
    log: Settings, history: list[Event]
) -> None:
    case_ids = sorted({e.case_id for e in history})
    late = sorted({e.case_id for e in history if e.recorded_at - e.occurred_at > LATE[0]})
    chosen = random.Random(3).sample(case_ids, 25) + late[:15]
    app = create_app(log)
    differed = 0
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q") as query,
    ):
        token = await make_token(log, TokenRole.AUDITOR, [])
        query.headers["Authorization"] = f"Bearer {token}"
        for case_id in chosen:
            events = await case_events(log, case_id)  # the log itself, as the endpoint read it
            first = events[0].occurred_at
            for at in (first - timedelta(days=1), first + timedelta(days=1), *INSTANTS[2:8]):
                answers = []
                for basis in Basis:
                    params = {"at": at.isoformat(), "basis": basis.value}
                    response = await query.get(f"/cases/{case_id}/as-of", params=params)
                    assert response.status_code == 200, response.text
                    assert response.json() == _expected_case(events, case_id, at, basis)
                    answers.append(response.json()["steps_counted"])
                differed += answers[0] != answers[1]
        nobody = await query.get(
            "/cases/XF-2099-9999/as-of", params={"at": INSTANTS[0].isoformat()}
        )
        assert nobody.status_code == 404
    assert differed > 0  # late entries: as recorded and as happened told apart
