"""An information-disclosure request travels from the town office (党政办) to a supervisor on
the real Kafka and PostgreSQL: HTTP → gateway → Kafka → decider → Kafka → projector →
PostgreSQL → query → HTTP, with its clocks in the projection and its figures in the statistics."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.settings import Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import events_of, history_when, summary_when
from tests.support import Service

OFFICE = {"officer_id": "DY-DZ-01", "role": "officer", "department": "党政办"}


@pytest.fixture
async def town_office(
    services: dict[str, Service], servers: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway, with a token of 党政办 (the office that answers disclosure requests)."""
    token = await make_token(servers, TokenRole.DEPARTMENT, ["党政办"])
    url = f"http://127.0.0.1:{servers.gateway_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        yield client


def step(case_id: str, type_: str, at: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": type_,
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": OFFICE,
        "occurred_at": f"{at}T10:00:00+08:00",
        "payload": payload,
    }


async def disclosure_figures(query: httpx.AsyncClient) -> dict[str, Any]:
    response = await query.get("/statistics", params={"year": 2021, "by": "case_type,channel"})
    assert response.status_code == 200, response.text
    rows = [
        r
        for r in response.json()["rows"]
        if (r["case_type"], r["channel"]) == ("disclosure", "post")
    ]
    return rows[0] if rows else {"cases": 0, "closed": 0, "replied": 0}


async def submit(gateway: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await gateway.post("/submissions", json=body)
    assert response.status_code == 201, response.text
    outcome: dict[str, Any] = response.json()
    assert outcome["status"] == "accepted", outcome
    return outcome


async def test_a_disclosure_request_from_registration_to_the_statistics(
    town_office: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    before = await disclosure_figures(query)
    case_id = f"GK-T-{uuid.uuid4().hex[:10]}"
    steps = [
        step(
            case_id,
            "disclosure.register",
            "2021-03-01",
            {
                "channel": "post",
                "applicant": {"name": "陈六", "phone": "13700000000"},
                "applicant_kind": "person",
                "information": "南文村旧厂房改造项目投标文件",
            },
        ),
        step(
            case_id,
            "disclosure.request_correction",
            "2021-03-03",
            {"items": "请明确项目名称", "correct_by": "2021-03-12"},
        ),
        step(
            case_id,
            "disclosure.receive_correction",
            "2021-03-10",
            {"information": "南文村旧厂房改造项目中标结果及投标文件"},
        ),
        step(
            case_id,
            "disclosure.consult_third_party",
            "2021-03-11",
            {"consulted": "third_party", "name": "某建筑工程有限公司", "interests": "商业秘密"},
        ),
    ]
    for version, body in enumerate(steps, start=1):
        assert (await submit(town_office, body))["version"] == version

    consulting = await summary_when(query, case_id, "consulting")
    assert (consulting["case_type"], consulting["owner_department"]) == ("disclosure", "党政办")
    assert consulting["channel"] == "post"
    lights = {d["clock"]: (d["due_day"], d["light"]) for d in consulting["deadlines"]}
    # The answer clock ran afresh from the corrected request (Mar 10: due Apr 8) and stands
    # still while the third party is consulted: it keeps the green it had on Mar 11. The third
    # party's 15 working days ended on Apr 1, long ago: red.
    assert lights == {
        "disclosure.answer": ("2021-04-08", "green"),
        "disclosure.third_party_reply": ("2021-04-01", "red"),
    }

    answering = [
        step(
            case_id,
            "disclosure.record_third_party_opinion",
            "2021-03-19",
            {"view": "objects", "opinion": "投标报价属商业秘密"},
        ),
        step(
            case_id,
            "disclosure.answer",
            "2021-03-22",
            {
                "answer": "partly_disclosed",
                "reply": "提供中标结果；投标报价明细不予公开",
                "ground": "third_party_rights",
            },
        ),
        step(case_id, "disclosure.close", "2021-03-23", {"note": "已答复，办结"}),
    ]
    for body in answering:
        await submit(town_office, body)
    closed = await summary_when(query, case_id, "closed")
    assert (closed["version"], closed["deadlines"], closed["light"]) == (7, [], None)

    history = await history_when(query, case_id, 7)
    assert [s["type"] for s in history] == [
        "disclosure.registered",
        "disclosure.correction_requested",
        "disclosure.correction_received",
        "disclosure.third_party_consulted",
        "disclosure.third_party_replied",
        "disclosure.answered",
        "disclosure.closed",
    ]
    assert history[5]["payload"]["answer"] == "partly_disclosed"
    assert all(s["actor"]["department"] == "党政办" for s in history)
    logged = await events_of(settings, case_id)
    assert [e.hash for e in logged] == [s["hash"] for s in history]

    after = await disclosure_figures(query)
    assert {k: after[k] - before[k] for k in ("cases", "closed", "replied")} == {
        "cases": 1,
        "closed": 1,
        "replied": 1,
    }
