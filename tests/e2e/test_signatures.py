"""Who vouched for each step, on the real Kafka and PostgreSQL: the decider rejects submissions
published straight to Kafka unsigned, wrongly signed, or signed by another department's key;
it records the key that vouched in the event; the audit trail and the case history show it."""

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from events.model import Event, Outcome
from projections.db import connect
from services.adapters.kafka import client_options
from services.integrity.keyring import KeyPurpose, load_private_key, load_ring, new_key, save_ring
from services.integrity.signing import DepartmentSigners, Signer
from services.settings import KafkaRole, Settings
from tests.e2e.test_petition_flow import accept_body, events_of, new_case_id, register_body
from tests.signing import SUITE
from tests.support import Service, all_outcomes

XF, ZX = "信访办", "综治中心"


async def send_straight(settings: Settings, documents: list[dict[str, Any]]) -> list[Outcome]:
    """Publish to the submissions topic as any Kafka client can; each document's outcome."""
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.DEPARTMENT)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        for document in documents:
            await producer.send_and_wait(
                settings.submissions_topic,
                json.dumps(document, ensure_ascii=False).encode(),
                key=document["case_id"].encode(),
            )
    finally:
        await producer.stop()
    wanted = [document["submission_id"] for document in documents]
    outcomes = {
        str(o.submission_id): o for o in await all_outcomes(settings, set(wanted), seconds=60)
    }
    return [outcomes[submission_id] for submission_id in wanted]


def vouchers(events: list[Event]) -> list[dict[str, Any] | None]:
    return [e.vouched_by.model_dump() if e.vouched_by else None for e in events]


async def audit_rows(settings: Settings, case_id: str) -> list[dict[str, Any]]:
    """The audit trail's rows of a case, once the projection has every one of its events."""
    expected = len(await events_of(settings, case_id))
    deadline = time.monotonic() + 30
    async with connect(settings.postgres_dsn) as conn:
        while True:
            rows = await conn.fetch(
                "SELECT version, vouched_by::text AS vouched_by FROM audit_trail"
                " WHERE case_id = $1 ORDER BY version",
                case_id,
            )
            if len(rows) == expected or time.monotonic() > deadline:
                return [
                    {"version": r["version"], "vouched_by": json.loads(r["vouched_by"])}
                    for r in rows
                ]
            await asyncio.sleep(0.2)


async def test_unsigned_and_wrongly_signed_submissions_on_kafka_are_rejected_with_their_codes(
    services: dict[str, Service], settings: Settings
) -> None:
    signers = DepartmentSigners.load(settings)
    unsigned = register_body(new_case_id())
    tampered = signers.sign(register_body(new_case_id()))
    tampered["payload"]["persons"] = 30  # changed after signing
    other_department = signers.signers[ZX].sign(register_body(new_case_id()), XF)
    naming_other = signers.signers[ZX].sign(register_body(new_case_id()), ZX)
    # A key id the ring does not know.
    unknown = Signer(signers.signers[XF].key, "0123456789abcdef").sign(
        register_body(new_case_id()), XF
    )
    outcomes = await send_straight(
        settings, [unsigned, tampered, other_department, naming_other, unknown]
    )
    assert [(o.status, o.code) for o in outcomes] == [
        ("rejected", "unsigned_submission"),
        ("rejected", "bad_signature"),
        ("rejected", "signer_department_mismatch"),
        ("rejected", "signer_department_mismatch"),
        ("rejected", "unknown_signer"),
    ]
    assert "提交未签名" in outcomes[0].message
    assert f"is {ZX}'s: it cannot vouch for {XF}" in outcomes[2].message
    for document in (unsigned, tampered, other_department, naming_other, unknown):
        assert await events_of(settings, document["case_id"]) == []


async def test_a_department_signed_step_records_the_departments_key(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    """Straight to Kafka with the department's key, and through the gateway with it too (the
    gateway forwards a signed submission as it came): the event names the department's key."""
    signers = DepartmentSigners.load(settings)
    key_id = signers.signers[XF].key_id
    case_id = new_case_id()
    (registered,) = await send_straight(settings, [signers.sign(register_body(case_id))])
    assert registered.status == "accepted", registered
    accepted = await gateway.post(
        "/submissions", json=signers.sign(accept_body(case_id, expected_version=1))
    )
    assert accepted.status_code == 201, accepted.text
    mine = {"key_id": key_id, "department": XF, "kind": "department"}
    assert vouchers(await events_of(settings, case_id)) == [mine, mine]
    assert [r["vouched_by"] for r in await audit_rows(settings, case_id)] == [mine, mine]

    broken = signers.sign(accept_body(new_case_id()))
    broken["payload"]["note"] = "改过"
    refused = await gateway.post("/submissions", json=broken)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "bad_signature"


async def test_a_gateway_step_records_the_gateways_key_and_the_tokens_department(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    gateway_key = Signer.from_file(settings.gateway_signing_key_path).key_id
    case_id = new_case_id()
    for body in (register_body(case_id), accept_body(case_id, expected_version=1)):
        response = await gateway.post("/submissions", json=body)
        assert response.status_code == 201, response.text
    vouched = {"key_id": gateway_key, "department": XF, "kind": "gateway"}
    assert vouchers(await events_of(settings, case_id)) == [vouched, vouched]
    assert [r["vouched_by"] for r in await audit_rows(settings, case_id)] == [vouched, vouched]
    history = await query.get(f"/cases/{case_id}/history")
    assert history.status_code == 200, history.text
    assert [step["vouched_by"] for step in history.json()] == [vouched, vouched]


async def test_a_key_added_or_revoked_in_the_ring_counts_without_a_restart(
    services: dict[str, Service], settings: Settings, tmp_path: Path
) -> None:
    """The running decider reads the ring again when its file changes: a new key vouches at
    once, and a key whose validity an operator closes is refused at once."""
    added = new_key(
        settings.key_ring_path, tmp_path / "new.pem", KeyPurpose.DEPARTMENT, XF, suite=SUITE
    )
    signer = Signer.of(load_private_key(tmp_path / "new.pem"))
    (accepted,) = await send_straight(settings, [signer.sign(register_body(new_case_id()), XF)])
    assert accepted.status == "accepted", accepted.message

    ring = load_ring(settings.key_ring_path)
    entry = ring.get(added.key_id, KeyPurpose.DEPARTMENT)
    assert entry is not None
    closed = replace(entry, valid_until=datetime.now(UTC))
    save_ring(settings.key_ring_path, ring.with_key(closed))
    (refused,) = await send_straight(settings, [signer.sign(register_body(new_case_id()), XF)])
    assert refused.status == "rejected"
    assert refused.code == "unknown_signer", refused.message
