"""A petition travels from a department to a supervisor on the real Kafka and PostgreSQL:
HTTP → gateway → Kafka → decider → Kafka → projector → PostgreSQL → query → HTTP."""

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from events.model import Event, Outcome
from projections import builds
from projections.db import connect
from services.adapters.kafka import client_options
from services.settings import KafkaRole, Settings
from tests.signing import SUITE
from tests.support import Service, dead_letters, whole_topic

ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}


def register_body(case_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "petition.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-04T09:30:00+08:00",
        "payload": {
            "channel": "visit",
            "persons": 3,
            "summary": "厂房噪音扰民",
            "petitioners": [{"name": "李四", "phone": "13900000000"}],
        },
        **extra,
    }


def accept_body(case_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "petition.accept",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-06T10:00:00+08:00",
        "payload": {"note": "符合受理条件"},
        **extra,
    }


def new_case_id() -> str:
    return f"XF-T-{uuid.uuid4().hex[:10]}"


async def events_of(settings: Settings, case_id: str) -> list[Event]:
    records = await whole_topic(settings, settings.events_topic)
    events = [Event.model_validate_json(value) for _, _, value in records]
    return [e for e in events if e.case_id == case_id]


async def summary_when(query: httpx.AsyncClient, case_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await query.get(f"/cases/{case_id}")
        body: dict[str, Any] = response.json()
        if response.status_code == 200 and body["status"] == status:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"case {case_id} did not become {status} in the projection within 30s")


async def in_audit_trail(settings: Settings, case_id: str, version: int) -> None:
    """Wait until the audit trail holds the case's step ``version``: each projection follows
    the log on its own, so a summary that shows it does not mean the trail does yet. Read
    from PostgreSQL, not through the API, whose reads of personal data are logged."""
    deadline = time.monotonic() + 30
    async with connect(settings.postgres_dsn) as conn:
        while time.monotonic() < deadline:
            found = await conn.fetchval(
                "SELECT max(version) FROM audit_trail WHERE case_id = $1", case_id
            )
            if found is not None and found >= version:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} v{version} not in the audit trail within 30s")


async def history_when(
    query: httpx.AsyncClient, case_id: str, version: int
) -> list[dict[str, Any]]:
    """The case's history once the audit trail holds its step ``version``."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = await query.get(f"/cases/{case_id}/history")
        assert response.status_code in (200, 404), response.text
        steps: list[dict[str, Any]] = response.json() if response.status_code == 200 else []
        if any(step["version"] == version for step in steps):
            return steps
        await asyncio.sleep(0.1)
    raise AssertionError(f"case {case_id} v{version} not in the audit trail within 30s")


async def test_register_then_accept_reaches_the_supervisor(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    case_id = new_case_id()
    registered = await gateway.post("/submissions", json=register_body(case_id))
    assert registered.status_code == 201, registered.text
    assert registered.json()["status"] == "accepted"
    assert [e["version"] for e in registered.json()["events"]] == [1]

    accepted = await gateway.post("/submissions", json=accept_body(case_id, expected_version=1))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["version"] == 2

    summary = await summary_when(query, case_id, "accepted")
    assert summary["case_type"] == "petition"
    assert summary["version"] == 2
    assert summary["channel"] == "visit"
    assert summary["owner_department"] == "信访办"
    # Accepted on 6 March 2020: 60 days end on 5 May, inside the Labour Day holiday (1-5 May),
    # so the period ends on 6 May; long past due now.
    (deadline,) = summary["deadlines"]
    assert (deadline["clock"], deadline["light"]) == ("petition.handling", "red")
    assert deadline["due_day"] == "2020-05-06"
    assert summary["light"] == "red"

    # Each projection follows the log on its own: the audit trail may be a fetch behind.
    steps = await history_when(query, case_id, 2)
    assert [(s["version"], s["type"]) for s in steps] == [
        (1, "petition.registered"),
        (2, "petition.accepted"),
    ]
    assert steps[1]["prev_hash"] == steps[0]["hash"]
    assert steps[0]["actor"]["officer_id"] == "DY-XF-01"

    # The log itself holds exactly these two events, hashes intact and equal to the audit trail.
    logged = await events_of(settings, case_id)
    assert [e.version for e in logged] == [1, 2]
    assert all(e.hash == e.computed_hash(suite=SUITE) for e in logged)
    assert [e.hash for e in logged] == [s["hash"] for s in steps]


async def test_audit_trail_rows_and_checkpoint_commit_together(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    case_id = new_case_id()
    assert (await gateway.post("/submissions", json=register_body(case_id))).status_code == 201
    await summary_when(query, case_id, "registered")
    async with connect(settings.postgres_dsn) as conn:
        row = await conn.fetchrow(
            "SELECT log_partition, log_offset FROM audit_trail WHERE case_id = $1", case_id
        )
        assert row is not None
        offsets = await builds.live_offsets(conn, "audit_trail", settings.events_topic)
        stored = offsets[row["log_partition"]]
        assert stored > row["log_offset"]
        # Every event on that partition up to the checkpoint has its row, no more, no fewer.
        rows_before = await conn.fetchval(
            "SELECT count(*) FROM audit_trail WHERE log_partition = $1 AND log_offset < $2",
            row["log_partition"],
            stored,
        )
    records = await whole_topic(settings, settings.events_topic)
    assert rows_before == sum(
        1
        for partition, offset, _ in records
        if partition == row["log_partition"] and offset < stored
    )


async def test_accept_before_register_is_rejected_with_its_code(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    case_id = new_case_id()
    body = accept_body(case_id)
    response = await gateway.post("/submissions", json=body)
    assert response.status_code == 404, response.text
    answer = response.json()
    assert answer["code"] == "unknown_case"
    assert case_id in answer["message"]

    outcomes = [
        Outcome.model_validate_json(value)
        for _, _, value in await whole_topic(settings, settings.outcomes_topic)
    ]
    (outcome,) = [o for o in outcomes if str(o.submission_id) == body["submission_id"]]
    assert outcome.status == "rejected"
    assert outcome.code == "unknown_case"
    assert await events_of(settings, case_id) == []
    assert (await query.get(f"/cases/{case_id}")).json()["code"] == "unknown_case"


async def test_resent_submission_gets_the_original_outcome_also_after_a_restart(
    gateway: httpx.AsyncClient, services: dict[str, Service], settings: Settings
) -> None:
    case_id = new_case_id()
    body = register_body(case_id)
    first = await gateway.post("/submissions", json=body)
    assert first.status_code == 201
    assert (await gateway.post("/submissions", json=body)).json() == first.json()

    services["decider"].stop(kill=True)
    services["decider"].start()
    again = await gateway.post("/submissions", json=body)
    assert again.status_code == 201, again.text
    assert again.json()["events"] == first.json()["events"]
    assert len(await events_of(settings, case_id)) == 1


async def test_bad_http_input_gets_a_precise_error(gateway: httpx.AsyncClient) -> None:
    body = register_body(new_case_id())
    body["payload"]["persons"] = 0
    invalid = await gateway.post("/submissions", json=body)
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "invalid_payload"
    assert ["body", "petition.register", "payload", "persons"] in [
        e["loc"] for e in invalid.json()["errors"]
    ]

    malformed = await gateway.post(
        "/submissions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid_payload"

    oversize = await gateway.post(
        "/submissions", content=b"x" * 100_000, headers={"content-type": "application/json"}
    )
    assert oversize.status_code == 413
    assert oversize.json()["code"] == "payload_too_large"


async def test_raw_kafka_garbage_never_blocks_the_partition(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    """A department writing straight to Kafka: an unreadable record goes to the dead-letter
    topic, an invalid but attributable one gets an invalid_payload outcome, and a good
    submission behind them on the same partition is still decided."""
    case_id = new_case_id()
    invalid = register_body(case_id)
    invalid["payload"]["channel"] = "pigeon"
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.DEPARTMENT)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        key = case_id.encode()
        await producer.send_and_wait(settings.submissions_topic, b"\xff\x00garbage", key=key)
        await producer.send_and_wait(
            settings.submissions_topic, json.dumps(invalid).encode(), key=key
        )
    finally:
        await producer.stop()
    assert (await gateway.post("/submissions", json=register_body(case_id))).status_code == 201

    dead = await dead_letters(settings)
    (garbage,) = [headers for value, headers in dead if value == b"\xff\x00garbage"]
    assert garbage["casetrail.topic"] == settings.submissions_topic
    assert "Invalid JSON" in garbage["casetrail.error"]
    outcomes = [
        Outcome.model_validate_json(v)
        for _, _, v in await whole_topic(settings, settings.outcomes_topic)
    ]
    (rejected,) = [o for o in outcomes if str(o.submission_id) == invalid["submission_id"]]
    assert rejected.code == "invalid_payload"
    assert "channel" in rejected.message
