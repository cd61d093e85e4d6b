"""The departments' Python client (``client``) against the real gateway, decider and query API:
submit, wait, read back; a re-send; a rejection; the gateway's shedding waited out; a
department's own signature; and the README's example, run as it is written."""

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client import (
    AsyncCaseTrailClient,
    CaseTrailError,
    InvalidSubmission,
    OutcomeTimeout,
    Rejected,
    RejectionCode,
    flows,
)
from services.demo.petitions import load_petitions
from services.infra.servers import free_port
from services.integrity.signing import Signer, department_key_path
from services.settings import Settings
from tests.e2e.test_petition_flow import accept_body, events_of, new_case_id, register_body
from tests.support import Service, eventually, healthy

README = Path(__file__).resolve().parents[2] / "README.md"


def urls(settings: Settings) -> tuple[str, str]:
    return (
        f"http://127.0.0.1:{settings.gateway_port}",
        f"http://127.0.0.1:{settings.query_port}",
    )


@pytest.fixture
async def department(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> AsyncIterator[AsyncCaseTrailClient]:
    gateway, query = urls(settings)
    async with AsyncCaseTrailClient(gateway, query, token=petition_office_token) as client:
        yield client


def statuses_of(client: AsyncCaseTrailClient) -> list[tuple[str, int]]:
    """Every answer the client's HTTP connection gets, as (method, status), from now on."""
    seen: list[tuple[str, int]] = []

    async def record(response: httpx.Response) -> None:
        seen.append((response.request.method, response.status_code))

    client.http.event_hooks["response"].append(record)
    return seen


async def test_submit_wait_and_read_back_and_a_resend_appends_nothing(
    department: AsyncCaseTrailClient, settings: Settings
) -> None:
    case_id = new_case_id()
    body = register_body(case_id)
    outcome = await department.submit(body)
    assert (outcome.status, outcome.case_id, outcome.version) == ("accepted", case_id, 1)
    assert str(outcome.submission_id) == body["submission_id"]

    case = await department.case(case_id, min_version=outcome.version)
    assert (case.case_id, case.status, case.version) == (case_id, "registered", 1)
    assert case.owner_department == "信访办"
    assert isinstance(case.version, int)

    again = await department.submit(body)
    assert again == outcome  # the first outcome, its events' ids, version and instant
    assert [e.version for e in await events_of(settings, case_id)] == [1]


async def test_a_rejection_raises_with_the_deciders_code_and_outcome(
    department: AsyncCaseTrailClient, settings: Settings
) -> None:
    case_id = new_case_id()
    with pytest.raises(Rejected) as raised:
        await department.submit(accept_body(case_id))
    rejected = raised.value
    assert (rejected.status, rejected.code) == (404, RejectionCode.UNKNOWN_CASE)
    assert rejected.outcome.status == "rejected"
    assert rejected.outcome.case_id == case_id
    assert case_id in rejected.message
    assert await events_of(settings, case_id) == []

    # What the gateway refuses itself, in the same shape.
    gateway, query = urls(settings)
    async with AsyncCaseTrailClient(gateway, query, token="ct_not_a_token") as stranger:
        with pytest.raises(CaseTrailError) as refused:
            await stranger.submit(register_body(case_id))
    assert (refused.value.status, refused.value.code) == (401, "unauthenticated")
    assert not isinstance(refused.value, Rejected)

    # What the contract refuses is never sent: the gateway would answer 422 the same way.
    with pytest.raises(InvalidSubmission) as invalid:
        await department.submit(register_body(case_id) | {"payload": {"channel": "visit"}})
    assert (invalid.value.status, invalid.value.code) == (None, "missing_field")
    assert invalid.value.errors is not None
    assert invalid.value.errors[0]["loc"][:2] == ["petition.register", "payload"]


async def test_a_department_signature_goes_through_and_is_recorded(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> None:
    own_key = Signer.from_file(department_key_path(settings, "信访办"))
    gateway, query = urls(settings)
    case_id = new_case_id()
    async with AsyncCaseTrailClient(
        gateway, query, token=petition_office_token, signer=own_key
    ) as client:
        outcome = await client.submit(register_body(case_id))
    assert outcome.status == "accepted"
    [event] = await events_of(settings, case_id)
    assert event.vouched_by is not None
    assert (event.vouched_by.kind, event.vouched_by.key_id) == ("department", own_key.key_id)


async def test_the_gateways_shedding_is_waited_out_as_retry_after_asks(
    services: dict[str, Service], settings: Settings, petition_office_token: str, tmp_path: Any
) -> None:
    """A gateway that takes one submission at once, held by a stalled decider: the client's
    submission is shed with 503 ``overloaded`` and ``Retry-After: 1``, sent again a second
    later each time, and accepted once the decider goes on; one event, not one per attempt."""
    small = settings.model_copy(update={"gateway_max_in_flight": 1, "gateway_port": free_port()})
    gateway = Service("gateway", small, tmp_path)
    gateway.start()
    gateway_url, query_url = urls(small)
    try:
        eventually(lambda: healthy(gateway_url), 30, gateway_url)
        async with AsyncCaseTrailClient(
            gateway_url, query_url, token=petition_office_token, timeout=30
        ) as client:
            held, shed = register_body(new_case_id()), register_body(new_case_id())
            services["decider"].pause()
            try:
                holding = asyncio.create_task(client.submit(held))
                await asyncio.sleep(1.0)  # admitted, waiting for its outcome
                seen = statuses_of(client)
                began = time.monotonic()
                retrying = asyncio.create_task(client.submit(shed))
                await asyncio.sleep(2.5)
                assert not retrying.done()
            finally:
                services["decider"].resume()
            outcome = await retrying
            took = time.monotonic() - began
            assert (await holding).status == "accepted"
        assert outcome.status == "accepted"
        posts = [status for method, status in seen if method == "POST"]
        assert posts.count(503) >= 2, posts  # shed while the decider stood still
        assert posts[-1] == 201, posts
        # Each attempt a second after the one before, as Retry-After asked.
        assert took >= posts.count(503) * 1.0, (took, posts)
        assert [e.version for e in await events_of(small, shed["case_id"])] == [1]
    finally:
        gateway.stop()


async def test_a_slow_decision_is_followed_at_the_status_url_and_resent_meanwhile(
    services: dict[str, Service],
    settings: Settings,
    petition_office_token: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gateway that answers 202 after 0.5 s, a decider stalled for 3 s: the client asks the
    status URL (404 ``unknown_submission`` while undecided), sends the submission again every
    second (here; 10 s by default), and returns the outcome once decided: one event."""
    monkeypatch.setattr(flows, "RESEND_AFTER_S", 1.0)
    impatient = settings.model_copy(update={"outcome_timeout_s": 0.5, "gateway_port": free_port()})
    gateway = Service("gateway", impatient, tmp_path)
    gateway.start()
    gateway_url, query_url = urls(impatient)
    try:
        eventually(lambda: healthy(gateway_url), 30, gateway_url)
        async with AsyncCaseTrailClient(
            gateway_url, query_url, token=petition_office_token, timeout=30
        ) as client:
            seen = statuses_of(client)
            body = register_body(new_case_id())
            services["decider"].pause()
            try:
                submitting = asyncio.create_task(client.submit(body))
                await asyncio.sleep(3.0)
                assert not submitting.done()
            finally:
                services["decider"].resume()
            outcome = await submitting
        assert (outcome.status, outcome.version) == ("accepted", 1)
        assert ("POST", 202) in seen
        assert ("GET", 404) in seen  # the status URL, while undecided
        assert [method for method, _ in seen].count("POST") >= 2, seen  # sent again meanwhile
        assert [e.version for e in await events_of(impatient, body["case_id"])] == [1]
    finally:
        gateway.stop()


def readme_example() -> str:
    """The Python block of the README's client section."""
    section = README.read_text("utf-8").split("## A Python client for departments", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "no Python example in the README's client section"
    return found.group(1)


async def test_the_readme_example_runs_as_written(
    services: dict[str, Service],
    settings: Settings,
    petition_office_token: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's example, against this run's services (its URLs are the demo's ports):
    accepted at version 1 and shown by the query API; run again (its submission_id is fixed),
    the same outcome, and still one event."""
    gateway, query = urls(settings)
    code = readme_example()
    assert "http://127.0.0.1:8000" in code
    assert "http://127.0.0.1:8001" in code
    code = code.replace("http://127.0.0.1:8000", gateway).replace("http://127.0.0.1:8001", query)
    client_lines = code[code.index("gateway, query =") :].strip().splitlines()
    assert len(client_lines) == 5, client_lines  # what the README calls five lines
    monkeypatch.setenv("TOKEN", petition_office_token)
    for _ in range(2):
        # The sync client, in a thread: this test's event loop is the services' clients' too.
        await asyncio.to_thread(exec, compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == ["accepted 1 registered", "accepted 1 registered"], printed
    assert [e.version for e in await events_of(settings, "XF-2021-0100")] == [1]


async def test_an_unknown_submission_times_out_with_pending(
    department: AsyncCaseTrailClient,
) -> None:
    submission_id = uuid.uuid4()
    with pytest.raises(OutcomeTimeout) as raised:
        await department.outcome(submission_id, timeout=1.5)
    assert raised.value.code == "pending"
    assert raised.value.submission_id == submission_id


async def test_the_demo_loads_its_2021_petitions_with_the_client(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> None:
    """``make demo``'s petitions, twice: the same answers the second time (fixed ids)."""
    gateway, _ = urls(settings)
    runs: list[list[str]] = [[], []]
    for said in runs:
        await asyncio.to_thread(load_petitions, gateway, petition_office_token, said.append)
    assert runs[0] == runs[1]
    assert len(runs[0]) == 12
    assert runs[0][0] == "XF-2021-0001 petition.register  → accepted (version 1)"
    assert runs[0][1] == "XF-2021-0001 petition.accept    → accepted (version 2)"
    assert runs[0][-1] == "XF-2021-9999 petition.accept    → 404 unknown_case"
    assert [e.version for e in await events_of(settings, "XF-2021-0001")] == [1, 2]
