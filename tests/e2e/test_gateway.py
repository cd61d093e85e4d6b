"""The gateway departments trust: tokens bound to a department, clear errors, and optimistic
concurrency under concurrent submissions, on the real stack."""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from projections.db import connect
from services import tokens
from services.adapters.kafka import read_to_end
from services.infra.servers import free_port
from services.settings import KafkaRole, Settings
from services.tokens import TokenRole
from tests.e2e.test_petition_flow import accept_body, events_of, new_case_id, register_body
from tests.support import Service, eventually, healthy


@pytest.fixture
async def bare_gateway(
    services: dict[str, Service], settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway without credentials."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.gateway_port}", timeout=60
    ) as client:
        yield client


async def new_token(settings: Settings, department: str) -> tuple[str, str]:
    async with connect(settings.postgres_dsn) as conn:
        token, secret = await tokens.create(conn, TokenRole.DEPARTMENT, [department], "e2e")
    return token.token_id, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_without_a_valid_token_nothing_is_submitted(bare_gateway: httpx.AsyncClient) -> None:
    body = register_body(new_case_id())
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("ct_nope_nope")):
        response = await bare_gateway.post("/submissions", json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthenticated"


async def test_a_token_submits_only_for_its_own_department(
    bare_gateway: httpx.AsyncClient, settings: Settings
) -> None:
    _, other_office = await new_token(settings, "综治中心")
    response = await bare_gateway.post(
        "/submissions", json=register_body(new_case_id()), headers=bearer(other_office)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_department"
    assert "信访办" in response.json()["message"]


async def test_a_revoked_token_stops_working(
    bare_gateway: httpx.AsyncClient, settings: Settings
) -> None:
    token_id, secret = await new_token(settings, "信访办")
    first = await bare_gateway.post(
        "/submissions", json=register_body(new_case_id()), headers=bearer(secret)
    )
    assert first.status_code == 201
    async with connect(settings.postgres_dsn) as conn:
        assert await tokens.revoke(conn, token_id)
    await asyncio.sleep(5.5)  # the gateway remembers a token's answer for 5 s
    after = await bare_gateway.post(
        "/submissions", json=register_body(new_case_id()), headers=bearer(secret)
    )
    assert after.status_code == 401


async def test_only_json_is_accepted(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/submissions", content=b"type=petition.register", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_unknown_step_types_are_named(gateway: httpx.AsyncClient) -> None:
    body = register_body(new_case_id()) | {"type": "petition.teleport"}
    response = await gateway.post("/submissions", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_payload"
    assert "petition.teleport" in response.json()["message"]


async def test_concurrent_conflicting_submissions_exactly_one_wins(
    gateway: httpx.AsyncClient,
) -> None:
    case_id = new_case_id()
    assert (await gateway.post("/submissions", json=register_body(case_id))).status_code == 201
    assert (
        await gateway.post("/submissions", json=accept_body(case_id, expected_version=1))
    ).status_code == 201

    def handle(n: int) -> dict[str, Any]:
        return {
            "type": "petition.handle",
            "submission_id": str(uuid.uuid4()),
            "case_id": case_id,
            "actor": {"officer_id": "DY-XF-02", "role": "officer", "department": "信访办"},
            "expected_version": 2,
            "occurred_at": "2020-03-07T10:00:00+08:00",
            "payload": {"record": f"第{n}次走访"},
        }

    answers = await asyncio.gather(
        *(gateway.post("/submissions", json=handle(n)) for n in range(20))
    )
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 409: 19}
    losers = [a.json() for a in answers if a.status_code == 409]
    assert {loser["code"] for loser in losers} == {"version_conflict"}
    assert all("at version 3" in loser["message"] for loser in losers)
    assert all(loser["outcome"]["version"] == 3 for loser in losers)


async def test_a_slow_decision_is_answered_202_with_a_url_to_ask_again(
    services: dict[str, Service], settings: Settings, petition_office_token: str, tmp_path: Any
) -> None:
    """A gateway that waits 0.5 s, and a decider that stalls for 2 s: 202 with a status URL,
    and the URL gives the outcome once it is decided."""
    impatient = settings.model_copy(update={"outcome_timeout_s": 0.5, "gateway_port": free_port()})
    gateway = Service("gateway", impatient, tmp_path)
    gateway.start()
    url = f"http://127.0.0.1:{impatient.gateway_port}"
    try:
        eventually(lambda: healthy(url), 30, url)
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers=bearer(petition_office_token)
        ) as client:
            services["decider"].pause()
            try:
                pending = await client.post("/submissions", json=register_body(new_case_id()))
            finally:
                await asyncio.sleep(1.5)
                services["decider"].resume()
            assert pending.status_code == 202
            status_url = pending.json()["status_url"]
            assert pending.headers["location"] == status_url

            async def decided() -> httpx.Response:
                while True:
                    answer = await client.get(status_url)
                    if answer.status_code != 404:
                        return answer
                    await asyncio.sleep(0.2)

            answer = await asyncio.wait_for(decided(), 20)
            assert answer.status_code == 200
            assert answer.json()["status"] == "accepted"
    finally:
        gateway.stop()


def as_the_clock(case_id: str, actor: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "case.record_deadline_warning",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": actor,
        "occurred_at": "2020-03-20T09:00:00+08:00",
        "payload": {"clock": "petition.handling"},
    }


async def test_a_department_token_never_submits_as_the_system_clock(
    gateway: httpx.AsyncClient, bare_gateway: httpx.AsyncClient, settings: Settings
) -> None:
    """The clock signals on any department's case: a department speaking as the clock (with
    its own department, as the gateway asks) would light another department's case red."""
    case_id = new_case_id()  # a 信访办 petition
    assert (await gateway.post("/submissions", json=register_body(case_id))).status_code == 201
    _, other_office = await new_token(settings, "综治中心")
    for actor in (
        {"officer_id": "system-clock", "role": "system", "department": "综治中心"},
        {"officer_id": "DY-ZX-01", "role": "system", "department": "综治中心"},
        {"officer_id": "system-clock", "role": "officer", "department": "综治中心"},
    ):
        response = await bare_gateway.post(
            "/submissions", json=as_the_clock(case_id, actor), headers=bearer(other_office)
        )
        assert response.status_code == 403, actor
        assert response.json()["code"] == "forbidden_system_clock"
    # Its own department's case neither: the clock is no department's officer.
    own = {"officer_id": "system-clock", "role": "system", "department": "信访办"}
    response = await gateway.post("/submissions", json=as_the_clock(case_id, own))
    assert response.json()["code"] == "forbidden_system_clock"
    assert [e.version for e in await events_of(settings, case_id)] == [1]


async def test_an_outcome_is_shown_only_to_the_department_that_submitted(
    gateway: httpx.AsyncClient, bare_gateway: httpx.AsyncClient, settings: Settings
) -> None:
    body = register_body(new_case_id())
    assert (await gateway.post("/submissions", json=body)).status_code == 201
    mine = await gateway.get(f"/submissions/{body['submission_id']}")
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "accepted"

    _, other_office = await new_token(settings, "综治中心")
    unknown_id = str(uuid.uuid4())
    theirs = await bare_gateway.get(
        f"/submissions/{body['submission_id']}", headers=bearer(other_office)
    )
    unknown = await bare_gateway.get(f"/submissions/{unknown_id}", headers=bearer(other_office))
    assert (theirs.status_code, unknown.status_code) == (404, 404)
    assert theirs.json() == {
        **unknown.json(),
        "message": unknown.json()["message"].replace(unknown_id, body["submission_id"]),
    }
    assert theirs.json()["code"] == "unknown_submission"


def hundred_megabytes_chunked(url: str, headers: dict[str, str]) -> tuple[httpx.Response, int]:
    """POST 100 MB from a generator (so chunked, without Content-Length); the answer and how
    many bytes the generator had given by then.

    A plain httpx.Client: the async one cannot read an answer once a write has failed (its
    transport closes on the error), and a server that stops reading a body must close the
    connection under the writer."""
    given = 0

    def body() -> Iterator[bytes]:
        nonlocal given
        chunk = b" " * 65536
        while given < 100 * 2**20:
            given += len(chunk)
            yield chunk

    with httpx.Client(timeout=30) as client:
        response = client.post(
            url, content=body(), headers={"content-type": "application/json", **headers}
        )
    assert "content-length" not in response.request.headers
    return response, given


async def test_a_chunked_body_over_the_limit_is_cut_off_early_with_413(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> None:
    """The gateway stops reading soon after the limit and answers 413 in the usual error
    shape, with a token or without one (the body used to be read whole, before the token was
    looked at)."""
    url = f"http://127.0.0.1:{settings.gateway_port}/submissions"
    for headers in ({}, bearer(petition_office_token)):
        started = time.monotonic()
        response, given = await asyncio.to_thread(hundred_megabytes_chunked, url, headers)
        took = time.monotonic() - started
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert str(settings.max_body_bytes) in response.json()["message"]
        # What the socket buffers took before the gateway stopped reading, not 100 MB.
        assert given < 20 * 2**20, given
        assert took < 10, took


async def test_an_overload_is_shed_at_once_with_retry_after_while_admitted_ones_succeed(
    services: dict[str, Service], settings: Settings, petition_office_token: str, tmp_path: Any
) -> None:
    """A gateway that takes 4 submissions at once, and a decider that stalls: the 4 admitted
    wait for their outcomes, and every submission beyond them is answered 503 ``overloaded``
    with ``Retry-After`` straight away (not queued behind them), in the error shape, and never
    published. Once the decider goes on, the admitted 4 are accepted and the gateway takes
    submissions again."""
    small = settings.model_copy(update={"gateway_max_in_flight": 4, "gateway_port": free_port()})
    gateway = Service("gateway", small, tmp_path)
    gateway.start()
    url = f"http://127.0.0.1:{small.gateway_port}"
    try:
        eventually(lambda: healthy(url), 30, url)
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers=bearer(petition_office_token)
        ) as client:
            admitted_cases = [new_case_id() for _ in range(4)]
            shed_cases = [new_case_id() for _ in range(20)]
            services["decider"].pause()
            try:
                admitted = [
                    asyncio.create_task(client.post("/submissions", json=register_body(case)))
                    for case in admitted_cases
                ]
                await asyncio.sleep(1.0)  # the 4 are handed over and wait for their outcomes
                assert not any(task.done() for task in admitted)
                began = time.monotonic()
                shed = await asyncio.gather(
                    *(client.post("/submissions", json=register_body(c)) for c in shed_cases)
                )
                took = time.monotonic() - began
            finally:
                services["decider"].resume()
            assert [a.status_code for a in shed] == [503] * len(shed_cases)
            assert took < 2.0, took  # answered at once, not after the stalled ones
            for answer in shed:
                assert answer.headers["retry-after"] == "1"
                assert answer.headers["content-type"] == "application/json"
                body = answer.json()
                assert set(body) == {"code", "message"}
                assert body["code"] == "overloaded"
                assert "网关繁忙" in body["message"]
                assert "resend the same submission" in body["message"]
            answers = await asyncio.gather(*admitted)
            assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
            assert {a.json()["status"] for a in answers} == {"accepted"}
            again = await client.post("/submissions", json=register_body(new_case_id()))
            assert again.status_code == 201, again.text
        for case_id in admitted_cases:
            assert [e.version for e in await events_of(settings, case_id)] == [1]
        # Only the admin user may read submissions.
        admin = settings.as_kafka_user(KafkaRole.ADMIN)
        tps = [TopicPartition(settings.submissions_topic, p) for p in range(settings.partitions)]
        published = {json.loads(r.value or b"{}")["case_id"] async for r in read_to_end(admin, tps)}
        assert published.isdisjoint(shed_cases), "a shed submission was published"
    finally:
        gateway.stop()
