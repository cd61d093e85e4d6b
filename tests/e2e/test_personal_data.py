"""Personal data sealed per data subject, opened for those who may read it, erased by
destroying keys (issue 13): against the real broker, database and services."""

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from events.sealed import ERASED
from services.adapters.kafka import client_options, partitioner, read_to_end
from services.privacy.cipher import CIPHER_ALG
from services.settings import KafkaRole, Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import (
    accept_body,
    in_audit_trail,
    new_case_id,
    register_body,
    summary_when,
)
from tests.signing import SUITE
from tests.support import casetrail, whole_topic

PERSON = {
    "name": "欧阳明远",
    "id_number": "44200019850312461X",
    "phone": "13922334455",
    "address": "大涌镇安堂村十二巷3号",
}
SECOND = {"name": "司徒慧琳", "phone": "13511223344"}
PLAINTEXTS = [*PERSON.values(), *SECOND.values()]


async def raw_topics(settings: Settings) -> bytes:
    """Every committed record of every CaseTrail topic, concatenated (read as the admin: no
    other user may read the submissions)."""
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    chunks = []
    for topic, partitions in (
        (settings.events_topic, settings.partitions),
        (settings.submissions_topic, settings.partitions),
        (settings.outcomes_topic, settings.partitions),
        (settings.checkpoints_topic, settings.partitions),
        (settings.deadletter_topic, 1),
    ):
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        chunks += [record.value or b"" async for record in read_to_end(admin, tps)]
    return b"\n".join(chunks)


def revealed(blob: bytes | str) -> list[str]:
    # Other tests of the session put junk on the same topics (invalid UTF-8 among it).
    text = blob.decode(errors="replace") if isinstance(blob, bytes) else blob
    return [value for value in PLAINTEXTS if value in text]


async def stable_statistics(query: httpx.AsyncClient) -> Any:
    """The 2020 figures once two reads a second apart agree (the projector has caught up)."""
    previous = None
    for _ in range(30):
        response = await query.get("/statistics", params={"year": 2020, "by": "case_type"})
        assert response.status_code == 200, response.text
        if response.json() == previous:
            return previous
        previous = response.json()
        await asyncio.sleep(1)
    raise AssertionError("the statistics never settled")


async def history_when(
    query: httpx.AsyncClient, case_id: str, version: int, **params: str
) -> httpx.Response:
    for _ in range(60):
        response = await query.get(f"/cases/{case_id}/history", params=params)
        if response.status_code == 200 and len(response.json()) >= version:
            return response
        await asyncio.sleep(0.5)
    raise AssertionError(f"{case_id} never reached version {version}")


async def audit_trail_text(settings: Settings, case_id: str) -> str:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT a.*::text AS row FROM audit_trail a WHERE case_id = $1", case_id
        )
        summary = await conn.fetch(
            "SELECT s::text AS row FROM case_summary s WHERE case_id = $1", case_id
        )
    finally:
        await conn.close()
    return "\n".join(r["row"] for r in [*rows, *summary])


@pytest.fixture
async def petition(gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings) -> str:
    case_id = new_case_id()
    body = register_body(case_id)
    body["payload"]["petitioners"] = [PERSON, SECOND]
    body["payload"]["persons"] = 2
    assert (await gateway.post("/submissions", json=body)).status_code == 201
    assert (await gateway.post("/submissions", json=accept_body(case_id))).status_code == 201
    await summary_when(query, case_id, "accepted")
    await in_audit_trail(settings, case_id, 2)
    return case_id


async def test_sealed_on_the_log_read_with_a_reason_erased_everywhere_with_figures_kept(
    settings: Settings, petition: str, query: httpx.AsyncClient
) -> None:
    case_id = petition
    events = [
        json.loads(value)
        for _, _, value in await whole_topic(settings, settings.events_topic)
        if json.loads(value)["case_id"] == case_id
    ]
    registered = events[0]["payload"]["petitioners"]
    # On the log: two data subjects, every personal value sealed, nothing readable.
    assert {p["name"]["subject"] for p in registered} == {p["phone"]["subject"] for p in registered}
    assert len({p["name"]["subject"] for p in registered}) == 2
    assert all(p["name"]["alg"] == CIPHER_ALG[SUITE] for p in registered)
    assert revealed(json.dumps([e for e in events], ensure_ascii=False)) == []
    assert revealed(await audit_trail_text(settings, case_id)) == []

    # An auditor reads them, and the read is logged with the reason given.
    reason = "信访复查核对当事人身份"
    shown = (await history_when(query, case_id, 2, reason=reason)).json()
    assert shown[0]["payload"]["petitioners"][0] == PERSON
    assert shown[0]["payload"]["petitioners"][1]["name"] == SECOND["name"]
    log = (await query.get("/access-log", params={"case_id": case_id})).json()
    assert [(entry["role"], entry["reason"]) for entry in log] == [("auditor", reason)]

    # The submissions the gateway published still hold them (days of retention)...
    assert revealed(await raw_topics(settings)) == PLAINTEXTS
    before = await stable_statistics(query)
    erased = casetrail(
        settings,
        "erase",
        "--case",
        case_id,
        "--reason",
        "当事人申请删除个人信息",
        "--approved-by",
        "审计组 测试",
        "--json",
    )
    assert erased.returncode == 0, erased.stdout + erased.stderr
    report = json.loads(erased.stdout)
    assert report["keys_destroyed"] == 2
    assert report["erased"][0]["case_id"] == case_id

    # Nowhere to be read: not on any topic (the decided submissions are dropped), not in the
    # read models, not in the API, where the values read as erased.
    assert revealed(await raw_topics(settings)) == []
    after = (await history_when(query, case_id, 3, reason=reason)).json()
    assert after[-1]["type"] == "case.personal_data_erased"
    assert set(after[-1]["payload"]["subjects"]) == {p["name"]["subject"] for p in registered}
    assert after[0]["payload"]["petitioners"][0] == dict.fromkeys(PERSON, ERASED)
    assert revealed(json.dumps(after, ensure_ascii=False)) == []
    assert revealed(await audit_trail_text(settings, case_id)) == []
    assert await stable_statistics(query) == before

    # The log still verifies, and a rebuild from offset 0 keeps the values erased.
    verified = casetrail(settings, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for projection in ("audit_trail", "cases"):
        rebuilt = casetrail(settings, "rebuild", projection)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    again = (await history_when(query, case_id, 3, reason=reason)).json()
    assert again[0]["payload"] == after[0]["payload"]
    assert await stable_statistics(query) == before

    # Erasing again finds nothing left to erase, and says so.
    twice = casetrail(settings, "erase", "--case", case_id, "--reason", "x", "--approved-by", "y")
    assert twice.returncode == 1
    assert "no personal data that can still be erased" in twice.stderr


async def test_a_complainants_identity_needs_a_reason(
    settings: Settings, services: Any, query: httpx.AsyncClient
) -> None:
    """A complaint may come from a whistle-blower: its owning department sees the complainant
    only when it states why, and the reason goes into the access log."""
    token = await make_token(settings, TokenRole.DEPARTMENT, ["市场监管分局"])
    case_id = f"TS-T-{new_case_id()[5:]}"
    body = {
        "type": "complaint.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": {"officer_id": "DY-SC-07", "role": "officer", "department": "市场监管分局"},
        "occurred_at": "2020-05-06T09:00:00+08:00",
        "payload": {"channel": "phone", "subject": "无证经营", "complainant": PERSON},
    }
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{settings.gateway_port}"
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as gateway:
        response = await gateway.post("/submissions", json=body)
        assert response.status_code == 201, response.text
    url = f"http://127.0.0.1:{settings.query_port}"
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as office:
        await summary_when(office, case_id, "registered")
        await in_audit_trail(settings, case_id, 1)
        masked = await office.get(f"/cases/{case_id}/history")
        assert masked.headers["X-CaseTrail-Personal-Data"] == "reason-required"
        assert masked.json()[0]["payload"]["complainant"]["name"] == "***"
        assert (await query.get("/access-log", params={"case_id": case_id})).json() == []
        opened = await office.get(f"/cases/{case_id}/history", params={"reason": "核实举报线索"})
        assert opened.json()[0]["payload"]["complainant"] == PERSON
        assert "X-CaseTrail-Personal-Data" not in opened.headers
    log = (await query.get("/access-log", params={"case_id": case_id})).json()
    assert [(e["role"], e["reason"]) for e in log] == [("department", "核实举报线索")]


async def test_an_erasure_recorded_without_its_keys_destroyed_is_finished_by_erase(
    settings: Settings, petition: str, query: httpx.AsyncClient
) -> None:
    """The step names one petitioner, but no key went: a privacy officer recorded it through
    the gateway, or 'casetrail erase' gave up waiting for the decider (which recorded it
    later). Erasing the case then destroys that key too, and records only the other one."""
    case_id = petition
    events = [
        json.loads(value)
        for _, _, value in await whole_topic(settings, settings.events_topic)
        if json.loads(value)["case_id"] == case_id
    ]
    first, second = (p["name"]["subject"] for p in events[0]["payload"]["petitioners"])
    token = await make_token(settings, TokenRole.DEPARTMENT, ["党政办"])
    body = {
        "type": "case.erase_personal_data",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": {"officer_id": "DY-DZ-02", "role": "privacy_officer", "department": "党政办"},
        "occurred_at": "2021-01-05T09:00:00+08:00",
        "payload": {
            "subjects": [first],
            "basis": "request",
            "reason": "当事人申请删除",
            "approved_by": "审计组 测试",
        },
    }
    url = f"http://127.0.0.1:{settings.gateway_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as office:
        response = await office.post("/submissions", json=body)
        assert response.status_code == 201, response.text
    recorded = (await history_when(query, case_id, 3, reason="核对")).json()
    assert recorded[-1]["payload"]["subjects"] == [first]
    assert recorded[0]["payload"]["petitioners"][0] == PERSON  # recorded, yet still readable

    erased = casetrail(
        settings, "erase", "--case", case_id, "--reason", "当事人申请删除",
        "--approved-by", "审计组 测试", "--json",
    )  # fmt: skip
    assert erased.returncode == 0, erased.stdout + erased.stderr
    report = json.loads(erased.stdout)
    assert report["finished"] == [case_id]
    assert report["erased"] == [{"case_id": case_id, "subjects": [second], "version": 4}]
    assert report["keys_destroyed"] == 2
    after = (await history_when(query, case_id, 4, reason="核对")).json()
    assert [p["name"] for p in after[0]["payload"]["petitioners"]] == [ERASED, ERASED]
    assert revealed(json.dumps(after, ensure_ascii=False)) == []


async def test_erasure_drops_a_persons_submission_sent_to_another_partition(
    settings: Settings, petition: str, query: httpx.AsyncClient
) -> None:
    """A client that partitions by another hash sends a case's submission to a partition the
    case does not live on: the decider forwards it to the case's partition and decides it
    there, so its plaintext is on both partitions of the submissions topic, which erasing the
    case must empty."""
    case_id = petition
    person = {"name": "上官云霄", "phone": "13700998877", "address": "大涌镇旗北村七巷9号"}
    body = register_body(case_id)
    body["payload"]["petitioners"] = [person]
    department = settings.as_kafka_user(KafkaRole.DEPARTMENT)
    home = partitioner(settings.partitions)(case_id)
    elsewhere = (home + 1) % settings.partitions
    producer = AIOKafkaProducer(**client_options(department), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.submissions_topic,
            json.dumps(body, ensure_ascii=False).encode(),
            key=case_id.encode(),
            partition=elsewhere,
        )
    finally:
        await producer.stop()
    outcomes = TopicPartition(settings.outcomes_topic, home)
    for _ in range(60):
        answers = [json.loads(r.value or b"") async for r in read_to_end(department, [outcomes])]
        if any(a["submission_id"] == body["submission_id"] for a in answers):
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError("the misplaced submission was never decided on its case's partition")
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    both = [TopicPartition(settings.submissions_topic, p) for p in (home, elsewhere)]
    holding = {
        r.partition
        async for r in read_to_end(admin, both)
        if person["name"] in (r.value or b"").decode(errors="replace")
    }
    assert holding == {home, elsewhere}
    assert person["name"] in (await raw_topics(settings)).decode(errors="replace")

    erased = casetrail(
        settings, "erase", "--case", case_id, "--reason", "当事人申请删除",
        "--approved-by", "审计组 测试",
    )  # fmt: skip
    assert erased.returncode == 0, erased.stdout + erased.stderr
    left = (await raw_topics(settings)).decode(errors="replace")
    assert [value for value in person.values() if value in left] == []
