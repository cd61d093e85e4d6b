"""A log of the guomi suite (SM3 chains, SM2 signatures, SM4-GCM personal data) beside the
international one, in the same run: one stack of its own, set up by 'casetrail infra up' under
the suite.

- what the gateway accepts is vouched for with SM2, chained with SM3 and covered by SM2-signed
  checkpoints that name the suite; the badge, 'casetrail verify' and the case file check it
  under the suite;
- one suite per log: a decider or a verifier set to the other suite refuses the log.

Erasure, tampering, forged tails, signatures and take-overs under guomi are the international
tests themselves, which `make test` runs a second time under the suite (SUITE_TESTS).
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from events.suite import Suite
from services.adapters.kafka import delete_topics
from services.infra.servers import free_port
from services.integrity.checkpoints import Checkpoint, signature_valid
from services.integrity.declaration import read_declaration
from services.integrity.keyring import KeyPurpose, load_ring
from services.integrity.log_suite import SuiteMismatch
from services.query.app import create_app
from services.settings import Settings, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import accept_body, new_case_id, register_body
from tests.support import Service, casetrail, eventually, healthy, whole_topic

PERSON = {"name": "欧阳明远", "phone": "13922334455"}


@pytest.fixture(scope="module")
def guomi(
    servers: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, dict[str, Service]]]:
    """A log, a database and the four services of their own, under the guomi suite."""
    tag = uuid.uuid4().hex[:6]
    settings = servers.model_copy(
        update={
            "crypto_suite": Suite.GUOMI,
            "topic_prefix": f"{servers.topic_prefix}-guomi-{tag}",
            "postgres_dsn": with_database(servers.postgres_dsn, f"casetrail_test_guomi_{tag}"),
            "gateway_port": free_port(),
            "query_port": free_port(),
        }
    )
    up = casetrail(settings, "infra", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    log_dir = tmp_path_factory.mktemp("guomi-logs")
    running = {
        n: Service(n, settings, log_dir) for n in ("decider", "projector", "gateway", "query")
    }
    try:
        for service in running.values():
            service.start()
        for port in (settings.gateway_port, settings.query_port):
            url = f"http://127.0.0.1:{port}"
            eventually(lambda url=url: healthy(url), 60, url)  # type: ignore[misc]
        yield settings, running
        for service in running.values():
            service.check_alive()
    finally:
        for service in running.values():
            service.stop()
        asyncio.run(delete_topics(settings))
        asyncio.run(_drop(settings))


async def _drop(settings: Settings) -> None:
    database = urlsplit(settings.postgres_dsn).path.lstrip("/")
    conn = await asyncpg.connect(with_database(settings.postgres_dsn, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def petition(guomi: tuple[Settings, dict[str, Service]]) -> str:
    """A petition with a petitioner, registered and accepted through the gateway, in the
    audit trail."""
    settings, _ = guomi
    token = await make_token(settings, TokenRole.DEPARTMENT, ["信访办"])
    case_id = new_case_id()
    body = register_body(case_id)
    body["payload"]["petitioners"] = [PERSON]
    url = f"http://127.0.0.1:{settings.gateway_port}"
    async with httpx.AsyncClient(
        base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as gateway:
        for submission in (body, accept_body(case_id, expected_version=1)):
            response = await gateway.post("/submissions", json=submission)
            assert response.status_code == 201, response.text
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        for _ in range(150):
            rows = "SELECT count(*) FROM audit_trail WHERE case_id = $1"
            if await conn.fetchval(rows, case_id) == 2:
                return case_id
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError("the audit trail did not get the two events within 30s")


@pytest.fixture
async def auditor(guomi: tuple[Settings, dict[str, Service]]) -> AsyncIterator[httpx.AsyncClient]:
    settings, _ = guomi
    token = await make_token(settings, TokenRole.AUDITOR, [])
    url = f"http://127.0.0.1:{settings.query_port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        yield client


def _verify(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = casetrail(settings, "verify", "--json", *args)
    return result.returncode, json.loads(result.stdout)


async def test_a_guomi_log_is_vouched_chained_signed_and_verified_under_its_suite(
    guomi: tuple[Settings, dict[str, Service]], petition: str, auditor: httpx.AsyncClient
) -> None:
    settings, _ = guomi
    ring = load_ring(settings.key_ring_path)
    assert {key.algorithm.value for key in ring.keys} == {"sm2"}
    records = await whole_topic(settings, settings.events_topic)
    events = [json.loads(v) for _, _, v in records if json.loads(v)["case_id"] == petition]
    # Chained with SM3; the personal values sealed with SM4-GCM; vouched for by the gateway's
    # SM2 key.
    previous = GENESIS_HASH
    for event in events:
        assert (
            event["hash"]
            == chain_hash(event, Suite.GUOMI)
            != chain_hash(event, Suite.INTERNATIONAL)
        )
        assert event["prev_hash"] == previous
        previous = event["hash"]
        vouching = ring.get(event["vouched_by"]["key_id"], KeyPurpose.GATEWAY)
        assert vouching is not None
        assert vouching.algorithm.value == "sm2"
    name = events[0]["payload"]["petitioners"][0]["name"]
    assert name["alg"] == "SM4GCM"
    assert PERSON["name"] not in json.dumps(events, ensure_ascii=False)
    # Every checkpoint names the suite and is signed with the SM2 checkpoint key, over the
    # partition's SM3 chain.
    on_topic = sorted(await whole_topic(settings, settings.checkpoints_topic))
    # First on the topic: the declaration that fixed the log's suite, signed with the SM2 key
    # ('casetrail infra up' wrote it).
    declaration = read_declaration(on_topic[0][2])
    assert declaration is not None
    assert on_topic[0][0] == 0
    assert declaration.suite is Suite.GUOMI
    checkpoints = [
        Checkpoint.model_validate_json(v) for _, _, v in on_topic if read_declaration(v) is None
    ]
    assert checkpoints
    assert {c.suite for c in checkpoints} == {Suite.GUOMI}
    for checkpoint in checkpoints:
        key = ring.get(checkpoint.key_id, KeyPurpose.CHECKPOINT)
        assert key is not None
        assert signature_valid(checkpoint, key.public_key)
    partition = next(p for p, _, v in records if json.loads(v)["case_id"] == petition)
    head = GENESIS_HASH
    for p, _, value in records:
        if p == partition:
            head = partition_chain(head, json.loads(value)["hash"], Suite.GUOMI)
    latest = max((c for c in checkpoints if c.partition == partition), key=lambda c: c.count)
    assert latest.head == head

    # The badge checks the chain with SM3 and says which suite; an auditor reads the values.
    chain = (await auditor.get(f"/cases/{petition}/chain")).json()
    assert (chain["suite"], chain["intact"], chain["events"]) == ("guomi", True, 2)
    shown = await auditor.get(f"/cases/{petition}/history", params={"reason": "核对"})
    assert shown.json()[0]["payload"]["petitioners"][0]["name"] == PERSON["name"]

    code, verdict = _verify(settings)
    assert (code, verdict["intact"]) == (0, True), verdict
    # A verifier set to the other suite says so, once, and what to set (not that every event
    # was altered).
    code, verdict = _verify(settings.model_copy(update={"crypto_suite": Suite.INTERNATIONAL}))
    assert code == 1
    assert [problem["kind"] for problem in verdict["problems"]] == ["suite_mismatch"], verdict
    assert "set CASETRAIL_CRYPTO_SUITE=guomi" in verdict["problems"][0]["detail"]


async def test_a_decider_of_the_other_suite_refuses_to_start_on_the_log(
    guomi: tuple[Settings, dict[str, Service]], petition: str
) -> None:
    settings, _ = guomi
    other = settings.model_copy(
        update={"crypto_suite": Suite.INTERNATIONAL, "decider_health_port": 0}
    )
    result = casetrail(other, "decider")
    assert result.returncode == 2, result.stdout + result.stderr
    said = result.stderr + result.stdout
    assert "is of the suite guomi (declared at p0@0 with the key" in said
    assert "CASETRAIL_CRYPTO_SUITE is international: set CASETRAIL_CRYPTO_SUITE=guomi" in said


async def test_a_query_service_of_the_other_suite_refuses_to_start_on_the_log(
    guomi: tuple[Settings, dict[str, Service]], petition: str
) -> None:
    """Its badge would check every chain with the wrong hash and call the rows altered."""
    settings, _ = guomi
    other = settings.model_copy(update={"crypto_suite": Suite.INTERNATIONAL})
    app = create_app(other)
    with pytest.raises(SuiteMismatch, match="set CASETRAIL_CRYPTO_SUITE=guomi"):
        async with app.router.lifespan_context(app):
            pass
