"""Personal data in events stored at an old schema version (issue 11, item 4): masking and the
access log work on the payload upcast to the current schema, on the real services.

A version-1 ``complaint.registered`` (the complainant as one free-text string) cannot come
through the gateway any more: the test writes it onto a log of its own with a plain producer, as
the old code did, hashed as stored, followed by steps the decider's own logic decides."""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from events.hashing import GENESIS_HASH, chain_hash
from events.model import Event
from events.privacy import MASK
from events.upcasting import CURRENT_VERSIONS
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.infra.servers import free_port
from services.settings import Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_verify import append
from tests.integration.test_projections import caught_up, isolated  # noqa: F401 - a fixture
from tests.signing import SUITE, VERIFIER, signed_json
from tests.support import eventually, healthy, start_services

OFFICER = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
COMPLAINANT = "王五 13800000000"


def v1_complaint(case_id: str) -> Event:
    """complaint.registered as the old code stored it: schema_version 1, about 综治中心."""
    submission_id = uuid.uuid4()
    stored = Event.model_validate(
        {
            "event_id": str(uuid.uuid5(submission_id, "0")),
            "case_id": case_id,
            "case_type": "complaint",
            "version": 1,
            "type": "complaint.registered",
            "schema_version": 1,
            "occurred_at": "2019-11-04T01:30:00Z",
            "recorded_at": "2019-11-04T01:31:00Z",
            "actor": OFFICER,
            "department": "信访办",
            "submission_id": str(submission_id),
            "correlation_id": str(submission_id),
            "causation_id": str(submission_id),
            "payload": {
                "channel": "phone",
                "subject": "综治中心工作人员态度差",
                "complainant": COMPLAINANT,
                "respondent": "综治中心",
            },
            "prev_hash": GENESIS_HASH,
            "hash": GENESIS_HASH,
        }
    ).model_dump(mode="json")
    return Event.model_validate({**stored, "hash": chain_hash(stored, suite=SUITE)})


def step(case_id: str, submission_type: str, occurred_at: str, payload: dict[str, Any]) -> bytes:
    body = {
        "type": submission_type,
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": OFFICER,
        "occurred_at": occurred_at,
        "payload": payload,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def old_complaint_assigned_to_its_respondent(case_id: str) -> list[dict[str, Any]]:
    """The v1 registration, then accepted and assigned to 综治中心 (the unit complained
    about, which so comes to own the case), as the decider decides them."""
    registered = v1_complaint(case_id)
    state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER, suite=SUITE)
    state.replay_event(registered)
    events = [registered]
    now = datetime.now(UTC)
    for value in (
        step(case_id, "complaint.accept", "2019-11-05T02:00:00Z", {"note": "属实，受理"}),
        step(case_id, "complaint.assign", "2019-11-06T02:00:00Z", {"department": "综治中心"}),
    ):
        decision = state.decide_record(signed_json(value), now)
        assert decision.outcome is not None
        assert decision.outcome.status == "accepted", decision.outcome.message
        state.commit()
        events += decision.events
    return [event.model_dump(mode="json") for event in events]


async def test_a_version_1_complainant_is_masked_and_its_read_logged(
    isolated: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = isolated.model_copy(update={"query_port": free_port()})
    case_id = f"TS-V1-{uuid.uuid4().hex[:8]}"
    await append(settings, settings.events_topic, old_complaint_assigned_to_its_respondent(case_id))
    start_services(settings, tmp_path, "projector", "query")
    url = f"http://127.0.0.1:{settings.query_port}"
    await asyncio.to_thread(eventually, lambda: healthy(url), 30, url)  # the catalog exists
    await caught_up(settings)

    async def reader(role: TokenRole, departments: list[str]) -> httpx.AsyncClient:
        secret = await make_token(settings, role, departments)
        return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"})

    supervisor = await reader(TokenRole.SUPERVISOR, [])
    respondent = await reader(TokenRole.DEPARTMENT, ["综治中心"])
    auditor = await reader(TokenRole.AUDITOR, [])
    async with supervisor, respondent, auditor:
        for who in (supervisor, respondent):
            answer = await who.get(f"/cases/{case_id}/history")
            assert answer.status_code == 200, answer.text
            registered = answer.json()[0]
            # Masked in the current shape, and said so: the stored string is nowhere.
            assert registered["payload"]["complainant"] == {"name": MASK, "phone": MASK}
            assert registered["schema_version"] == CURRENT_VERSIONS["complaint.registered"]
            assert registered["payload"]["anonymous"] is False  # v3: every old one was named
            assert "13800000000" not in answer.text
            assert "王五" not in answer.text
        assert (await auditor.get("/access-log", params={"case_id": case_id})).json() == []

        # A complainant's identity only with a reason: without one, masked like the others.
        answer = await auditor.get(f"/cases/{case_id}/history")
        assert answer.headers["X-CaseTrail-Personal-Data"] == "reason-required"
        assert "王五" not in answer.text
        answer = await auditor.get(f"/cases/{case_id}/history", params={"reason": "年度审计"})
        registered = answer.json()[0]
        assert registered["payload"]["complainant"] == COMPLAINANT  # as stored, hashes and all
        assert registered["schema_version"] == 1
        log = (await auditor.get("/access-log", params={"case_id": case_id})).json()
        assert [(e["role"], e["events"], e["reason"]) for e in log] == [("auditor", 3, "年度审计")]
