"""`casetrail verify` on the real Kafka and PostgreSQL (DESIGN.md, guarantee 5): an intact system
verifies, and each tampering with the audit trail or the log is named with its place; only
checkpoints signed with a key of the pinned ring vouch for events, and events none vouches for
are named once older than the grace period.

Each tampering with the audit trail is undone before its test ends, so that every test starts
from an intact system. Tampering with the log cannot be undone (Kafka appends only), so those
tests write a chain of their own under a topic prefix of their own and delete it afterwards.
"""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from projections.db import connect
from projections.read_models import audit_trail
from services.adapters.kafka import client_options
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.infra.servers import free_port
from services.integrity.algorithms import SIGNATURE_ALGORITHM, PrivateKey, generate
from services.integrity.checkpoints import sign
from services.integrity.keyring import load_private_key
from services.integrity.shell import verify_system
from services.integrity.verification import Verification
from services.settings import KafkaRole, Settings
from tests.e2e.test_petition_flow import accept_body, new_case_id, register_body
from tests.signing import SUITE, VERIFIER, signed_json
from tests.support import Service, casetrail, own_topics

SUMMARY = re.compile(r"^\d+ events?, \d+ cases?, \d+ checkpoints?, \d+ audit rows?: intact$")


@pytest.fixture(scope="module")
async def cases(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> list[str]:
    """Three petitions through the gateway, two of them accepted (five events), once the audit
    trail has them all."""
    url = f"http://127.0.0.1:{settings.gateway_port}"
    headers = {"Authorization": f"Bearer {petition_office_token}"}
    ids = [new_case_id() for _ in range(3)]
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as gateway:
        for case_id in ids:
            response = await gateway.post("/submissions", json=register_body(case_id))
            assert response.status_code == 201, response.text
        for case_id in ids[:2]:
            body = accept_body(case_id, expected_version=1)
            response = await gateway.post("/submissions", json=body)
            assert response.status_code == 201, response.text
    async with connect(settings.postgres_dsn) as conn:
        for _ in range(150):
            count = await conn.fetchval(
                "SELECT count(*) FROM audit_trail WHERE case_id = ANY($1::text[])", ids
            )
            if count == 5:
                return ids
            await asyncio.sleep(0.2)
    raise AssertionError("the audit trail did not get the five events within 30s")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    async with connect(settings.postgres_dsn) as conn:
        yield conn


COLUMNS = ", ".join(
    f"{c}::text AS {c}" if c in audit_trail.JSON_COLUMNS else c for c in audit_trail.COLUMNS
)


async def row(conn: asyncpg.Connection, case_id: str, version: int) -> dict[str, Any]:
    found = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM audit_trail WHERE case_id = $1 AND version = $2", case_id, version
    )
    assert found is not None, (case_id, version)
    return dict(found)


def place(of: dict[str, Any]) -> str:
    return f"p{of['log_partition']}@{of['log_offset']}"


def named(result: Verification) -> list[tuple[str, str]]:
    return [(p.kind, p.where) for p in result.problems]


async def assert_intact(settings: Settings, case: str | None = None) -> Verification:
    result = await verify_system(settings, case)
    assert result.intact, [str(p) for p in result.problems]
    return result


# --- an intact system -----------------------------------------------------------------------


async def test_an_intact_system_verifies(cases: list[str], settings: Settings) -> None:
    result = await assert_intact(settings)
    assert result.events >= 5
    assert result.audit_rows is not None
    assert result.audit_rows + result.not_yet_projected == result.events

    alone = await assert_intact(settings, cases[0])
    assert (alone.events, alone.cases, alone.audit_rows) == (2, 1, 2)

    command = casetrail(settings, "verify")
    assert command.returncode == 0, command.stdout + command.stderr
    assert SUMMARY.match(command.stdout.splitlines()[0]), command.stdout

    as_json = casetrail(settings, "verify", "--case", cases[2], "--json")
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    report = json.loads(as_json.stdout)
    assert (report["intact"], report["case"], report["events"], report["audit_rows"]) == (
        True,
        cases[2],
        1,
        1,
    )


async def test_verify_that_cannot_reach_kafka_says_so(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    command = casetrail(nowhere, "verify", "--log-only")
    assert command.returncode == 2
    assert "could not verify: Kafka at 127.0.0.1:" in command.stderr
    assert "Traceback" not in command.stderr + command.stdout


# --- tampering with the audit trail ---------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "tampered"),
    [("department", "'别的部门'"), ("payload", """payload || '{"summary": "改过的摘要"}'""")],
)
async def test_an_altered_row_is_named(
    cases: list[str], settings: Settings, db: asyncpg.Connection, column: str, tampered: str
) -> None:
    original = await row(db, cases[0], 1)
    await db.execute(
        f"UPDATE audit_trail SET {column} = {tampered} WHERE event_id = $1", original["event_id"]
    )
    try:
        result = await verify_system(settings)
        assert named(result) == [("audit_row_altered", place(original))]
        assert f"differs from the log in {column} (" in result.problems[0].detail
        assert (await assert_intact(settings, cases[1])).audit_rows == 2  # another case

        if column == "department":
            command = casetrail(settings, "verify")
            assert command.returncode == 1, command.stdout + command.stderr
            lines = command.stdout.splitlines()
            assert lines[0].startswith(f"audit_row_altered at {place(original)}: ")
            assert lines[1].endswith(": 1 problem")
    finally:
        cast = "::jsonb" if column == "payload" else ""
        await db.execute(
            f"UPDATE audit_trail SET {column} = $2{cast} WHERE event_id = $1",
            original["event_id"],
            original[column],
        )
    await assert_intact(settings)


async def test_a_deleted_row_is_named(
    cases: list[str], settings: Settings, db: asyncpg.Connection
) -> None:
    original = await row(db, cases[1], 2)
    await db.execute("DELETE FROM audit_trail WHERE event_id = $1", original["event_id"])
    try:
        result = await verify_system(settings)
        assert named(result) == [("audit_row_missing", place(original))]
        assert f"{cases[1]} v2 (petition.accepted) has no row" in result.problems[0].detail

        command = casetrail(settings, "verify", "--json")
        assert command.returncode == 1, command.stdout + command.stderr
        report = json.loads(command.stdout)
        assert report["intact"] is False
        assert [
            (p["kind"], p["case_id"], p["partition"], p["offset"]) for p in report["problems"]
        ] == [("audit_row_missing", cases[1], original["log_partition"], original["log_offset"])]
    finally:
        values = ", ".join(
            f"${i}::jsonb" if c in audit_trail.JSON_COLUMNS else f"${i}"
            for i, c in enumerate(audit_trail.COLUMNS, start=1)
        )
        await db.execute(
            f"INSERT INTO audit_trail ({', '.join(audit_trail.COLUMNS)}) VALUES ({values})",
            *[original[c] for c in audit_trail.COLUMNS],
        )
    await assert_intact(settings)


async def test_rows_with_swapped_log_offsets_are_a_reordering(
    cases: list[str], settings: Settings, db: asyncpg.Connection
) -> None:
    first, second = await row(db, cases[0], 1), await row(db, cases[0], 2)
    assert first["log_partition"] == second["log_partition"]  # one case, one partition

    async def put(offsets: tuple[int, int]) -> None:
        async with db.transaction():
            for of, offset in zip((first, second), offsets, strict=True):
                await db.execute(
                    "UPDATE audit_trail SET log_offset = $2 WHERE event_id = $1",
                    of["event_id"],
                    offset,
                )

    await put((second["log_offset"], first["log_offset"]))
    try:
        result = await verify_system(settings, cases[0])
        assert named(result) == [("audit_rows_reordered", f"{place(first)}, {place(second)}")]
        assert named(await verify_system(settings)) == named(result)
    finally:
        await put((first["log_offset"], second["log_offset"]))
    await assert_intact(settings)


async def test_rows_with_swapped_versions_are_a_reordering(
    cases: list[str], settings: Settings, db: asyncpg.Connection
) -> None:
    first, second = await row(db, cases[1], 1), await row(db, cases[1], 2)

    async def swap() -> None:  # (case_id, version) is unique: through a free version
        async with db.transaction():
            versions = [
                await db.fetchval("SELECT version FROM audit_trail WHERE event_id = $1", of)
                for of in (first["event_id"], second["event_id"])
            ]
            for of, version in ((first, 0), (second, versions[0]), (first, versions[1])):
                await db.execute(
                    "UPDATE audit_trail SET version = $2 WHERE event_id = $1",
                    of["event_id"],
                    version,
                )

    await swap()
    try:
        result = await verify_system(settings)
        assert named(result) == [("audit_rows_reordered", f"{place(first)}, {place(second)}")]
        assert result.problems[0].case_id == cases[1]
    finally:
        await swap()
    assert (await row(db, cases[1], 1))["event_id"] == first["event_id"]
    await assert_intact(settings)


async def test_a_row_naming_a_place_where_the_log_has_nothing_is_moved(
    cases: list[str], settings: Settings, db: asyncpg.Connection
) -> None:
    """Its event, which the pass went by without a row, is read again from Kafka at its place
    to be paired with it."""
    original = await row(db, cases[2], 1)
    elsewhere = original["log_offset"] + 1_000_000

    async def put(offset: int) -> None:
        await db.execute(
            "UPDATE audit_trail SET log_offset = $2 WHERE event_id = $1",
            original["event_id"],
            offset,
        )

    await put(elsewhere)
    try:
        result = await verify_system(settings)
        assert named(result) == [("audit_row_moved", place(original))]
        assert result.problems[0].detail == (
            f"the row of {cases[2]} v1 (petition.registered) says it is at"
            f" p{original['log_partition']}@{elsewhere}, where the log has nothing"
        )
        assert named(await verify_system(settings, cases[2])) == named(result)
    finally:
        await put(original["log_offset"])
    await assert_intact(settings)


async def test_an_extra_row_is_named(
    cases: list[str], settings: Settings, db: asyncpg.Connection
) -> None:
    model = await row(db, cases[2], 1)
    invented = uuid.uuid4()
    await db.execute(
        f"INSERT INTO audit_trail ({', '.join(audit_trail.COLUMNS)})"
        f" SELECT $1, case_id, case_type, 2, 'petition.accepted', schema_version, occurred_at,"
        " recorded_at, actor, department, submission_id, correlation_id, causation_id,"
        " vouched_by, payload,"
        " prev_hash, hash, log_partition, log_offset + 1000000"
        " FROM audit_trail WHERE event_id = $2",
        invented,
        model["event_id"],
    )
    try:
        result = await verify_system(settings)
        assert named(result) == [("audit_row_extra", f"audit_trail row {invented}")]
        assert f"no event {invented} on the log" in result.problems[0].detail
        assert named(await verify_system(settings, cases[2])) == named(result)
    finally:
        await db.execute("DELETE FROM audit_trail WHERE event_id = $1", invented)
    await assert_intact(settings)


# --- tampering with the log, on topics of its own -------------------------------------------


@pytest.fixture
async def own_log(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of their own (one partition), for a log that is tampered with for good."""
    async with own_topics(servers, "verify", partitions=1) as own:
        yield own


NOW = datetime(2020, 6, 2, tzinfo=UTC)


def decided(count: int, per_case: int, at: datetime = NOW) -> list[dict[str, Any]]:
    """Events as the decider writes them (recorded ``at``), for ``count`` submissions of
    ``per_case`` per case."""
    state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER, suite=SUITE)
    events = []
    for _, value in submissions(count, per_case, uuid.uuid4().hex[:6]):
        events += [
            e.model_dump(mode="json") for e in state.decide_record(signed_json(value), at).events
        ]
    return events


async def append(
    settings: Settings,
    topic: str,
    values: list[dict[str, Any]],
    partition: int = 0,
    key: bytes | None = None,
) -> list[int]:
    """Append with a plain producer, as an insider with the brokers' admin password could (no
    other user may write these topics); the offsets."""
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(
                topic, json.dumps(v, ensure_ascii=False).encode(), key=key, partition=partition
            )
            for v in values
        ]
    finally:
        await producer.stop()
    return [metadata.offset for metadata in sent]


def checkpoint(
    settings: Settings,
    events: list[dict[str, Any]],
    offset: int,
    key: PrivateKey | None = None,
) -> dict[str, Any]:
    """A checkpoint over the partition chain of ``events``, signed now with the decider's key
    (which the ring holds, valid from when it was made) or with ``key``."""
    head = GENESIS_HASH
    for event in events:
        head = partition_chain(head, event["hash"], suite=SUITE)
    key = key or load_private_key(settings.signing_key_path)
    signed = sign(key, 0, offset, len(events), head, datetime.now(UTC))
    return signed.model_dump(mode="json", exclude_none=True)


async def chain_with_checkpoint(settings: Settings) -> list[dict[str, Any]]:
    events = decided(6, 3)  # two cases of three events
    offsets = await append(settings, settings.events_topic, events)
    await append(settings, settings.checkpoints_topic, [checkpoint(settings, events, offsets[-1])])
    result = await verify_system(settings, audit_trail=False)
    assert result.intact, [str(p) for p in result.problems]
    assert (result.events, result.cases, result.checkpoints) == (6, 2, 1)
    return events


@pytest.mark.parametrize(
    ("forgery", "kind"), [("wrong_hash", "altered_event"), ("skips_a_version", "version_gap")]
)
async def test_a_forged_event_in_kafka_is_named(own_log: Settings, forgery: str, kind: str) -> None:
    events = await chain_with_checkpoint(own_log)
    last = events[2]  # the first case's third event
    forged = {
        **last,
        "event_id": str(uuid.uuid4()),
        "version": 4 if forgery == "wrong_hash" else 5,
        "prev_hash": last["hash"],
        "payload": {"record": "伪造的办理记录"},
    }
    forged["hash"] = last["hash"] if forgery == "wrong_hash" else chain_hash(forged, suite=SUITE)
    (offset,) = await append(own_log, own_log.events_topic, [forged])

    result = await verify_system(own_log, audit_trail=False)
    # Recorded long ago (it says), and no checkpoint covers it: no decider wrote it.
    assert set(named(result)) == {(kind, f"p0@{offset}"), ("uncovered_event", f"p0@{offset}")}
    assert {p.case_id for p in result.problems} == {last["case_id"]}
    other_case = events[3]["case_id"]
    assert (await verify_system(own_log, other_case, audit_trail=False)).intact

    if forgery == "wrong_hash":
        command = casetrail(own_log, "verify", "--log-only")
        assert command.returncode == 1, command.stdout + command.stderr
        assert command.stdout.startswith(f"altered_event at p0@{offset}: ")


async def test_a_truncation_after_a_checkpoint_is_named(own_log: Settings) -> None:
    events = decided(8, 4)  # two cases of four events; the last two never reach the topic
    offsets = await append(own_log, own_log.events_topic, events[:6])
    signed = [
        checkpoint(own_log, events[:3], offsets[2]),
        checkpoint(own_log, events, offsets[-1] + 2),
    ]
    await append(own_log, own_log.checkpoints_topic, signed)

    result = await verify_system(own_log, audit_trail=False)
    assert named(result) == [("truncated_after_checkpoint", "p0")]
    assert "a checkpoint covers 8 events but the log holds 6" in result.problems[0].detail
    # Partition-level: every case of the partition hears of it.
    assert named(await verify_system(own_log, events[0]["case_id"], audit_trail=False)) == named(
        result
    )

    command = casetrail(own_log, "verify", "--log-only")
    assert command.returncode == 1, command.stdout + command.stderr
    assert command.stdout.splitlines()[0].startswith("truncated_after_checkpoint at p0: ")


# --- what vouches for the log -----------------------------------------------------------------


async def test_a_log_re_signed_with_a_key_outside_the_ring_fails(own_log: Settings) -> None:
    """Forged events and a checkpoint over them, signed with the forger's own key."""
    events = decided(6, 3)
    offsets = await append(own_log, own_log.events_topic, events)
    forger = generate(SIGNATURE_ALGORITHM[SUITE])
    resigned = checkpoint(own_log, events, offsets[-1], forger)
    await append(own_log, own_log.checkpoints_topic, [resigned])

    result = await verify_system(own_log, audit_trail=False)
    assert set(named(result)) == {
        ("unknown_checkpoint_key", "checkpoint p0 count 6"),
        *(("uncovered_event", f"p0@{offset}") for offset in offsets),
    }
    (unknown,) = [p for p in result.problems if p.kind == "unknown_checkpoint_key"]
    assert f"signed with key {resigned['key_id']}" in unknown.detail
    command = casetrail(own_log, "verify", "--log-only")
    assert command.returncode == 1, command.stdout + command.stderr
    assert "unknown_checkpoint_key at checkpoint p0 count 6: " in command.stdout
    assert command.stdout.splitlines()[-1].endswith(": 7 problems")


async def test_events_and_an_empty_checkpoints_topic_fail(own_log: Settings) -> None:
    offsets = await append(own_log, own_log.events_topic, decided(4, 2))
    result = await verify_system(own_log, audit_trail=False)
    assert named(result) == [
        ("no_checkpoints", "the checkpoints topic"),
        *(("uncovered_event", f"p0@{offset}") for offset in offsets),
    ]
    command = casetrail(own_log, "verify", "--log-only", "--json")
    assert command.returncode == 1, command.stdout + command.stderr
    assert json.loads(command.stdout)["problems"][0]["kind"] == "no_checkpoints"


async def test_uncovered_events_within_the_grace_period_are_a_note(own_log: Settings) -> None:
    recorded = datetime.now(UTC) - timedelta(seconds=5)
    await append(own_log, own_log.events_topic, decided(4, 2, recorded))
    result = await verify_system(own_log, audit_trail=False)
    assert result.intact, [str(p) for p in result.problems]
    assert result.recent_uncovered == 4
    command = casetrail(own_log, "verify", "--log-only")
    assert command.returncode == 0, command.stdout + command.stderr
    assert "note: 4 events recorded in the last 60 s not covered by a signed checkpoint yet" in (
        command.stdout
    )
    # With no grace at all, the same events are problems.
    strict = own_log.model_copy(update={"verify_grace_s": 0})
    assert {p.kind for p in (await verify_system(strict, audit_trail=False)).problems} == {
        "no_checkpoints",
        "uncovered_event",
    }
