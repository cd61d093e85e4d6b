"""The migration of a log written in plaintext before sealing (docs/privacy-migration.md), on the
real broker and database, with the decider and the command as real processes.

A log is written as earlier releases wrote it: a version-1 ``complaint.registered`` (the
complainant as one free-text string, written with a plain producer as the old code did, with its
signed checkpoint), then cases decided by a decider with CASETRAIL_SEAL_PERSONAL_DATA=false.
``casetrail migrate seal-log`` then writes it again under a new prefix; the new topics hold no
plaintext, verify, open to the upcast originals with the keys in the key store, and a decider
carries on on them; the signed record maps every old hash to a new one; running it again writes
nothing twice, and copies only what the old log got since; the old topics go with
``casetrail migrate drop-old``.

A sealed log moves to the other cryptographic suite the same way (``--to-suite``,
docs/suite-migration.md): the new log verifies under the new suite and the old one, kept, under
its own; the record checks each side under its suite; the values open with the new keys, the
erased ones stay erased, and an erasure on the new log erases.
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event
from events.privacy import personal_fields
from events.sealed import ERASED, sealed_values, subjects_in
from events.suite import Suite
from events.upcasting import CURRENT_VERSIONS, upcast
from projections.catalog import PROJECTIONS
from projections.db import connect
from services.adapters.kafka import (
    admin,
    delete_topics,
    end_offsets,
    partitioner,
    topic_partitions,
)
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import OFFICERS_FILE
from services.integrity.checkpoints import sign
from services.integrity.keyring import load_private_key
from services.privacy import relog
from services.privacy.cipher import CIPHER_ALG
from services.privacy.keystore import KeyStore, PgKeyStore, SubjectKey, open_keystore
from services.privacy.migration import has_personal_fields
from services.privacy.sealing import open_payload
from services.progress import quiet
from services.settings import KafkaRole, Settings, with_database
from tests.e2e.test_old_schema_privacy import COMPLAINANT, old_complaint_assigned_to_its_respondent
from tests.e2e.test_petition_flow import ACTOR, accept_body, register_body
from tests.e2e.test_verify import append
from tests.signing import SUITE, VERIFIER, signed_json
from tests.support import all_outcomes, casetrail, own_topics, publish, start_services, whole_topic

PLAINTEXT = ["王五", "13800000000", "钱七", "13611112222", "南文村8号", "李四", "13900000000"]
"""Every personal value the plaintext log holds (the new log must hold none of them)."""


def complaint(case_id: str) -> dict[str, Any]:
    return {
        "type": "complaint.register",
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-03-04T09:30:00+08:00",
        "payload": {
            "channel": "hotline_12345",
            "subject": "餐馆油烟扰民",
            "anonymous": False,
            "complainant": {"name": "钱七", "phone": "13611112222", "address": "大涌镇南文村8号"},
            "respondent": "某餐饮店",
        },
    }


def petition(case_id: str) -> dict[str, Any]:
    body = register_body(case_id)
    body["payload"] |= {
        "persons": 2,
        "petitioners": [{"name": "李四", "phone": "13900000000"}, {"name": "王五"}],
    }
    return body


async def decide(settings: Settings, bodies: list[dict[str, Any]]) -> None:
    """Publish, signed by the department, and wait until every one is accepted."""
    messages = [(b["case_id"], json.dumps(b, ensure_ascii=False).encode()) for b in bodies]
    await publish(settings, messages, chunks=1)
    outcomes = await all_outcomes(settings, {b["submission_id"] for b in bodies}, 120)
    mine = [o for o in outcomes if str(o.submission_id) in {b["submission_id"] for b in bodies}]
    assert [o.message for o in mine if o.status != "accepted"] == []


def case_on_partition(partition: int, count: int) -> str:
    where = partitioner(count)
    while True:
        case_id = f"TS-V1-{uuid.uuid4().hex[:8]}"
        if where(case_id) == partition:
            return case_id


async def write_old_release_log(settings: Settings) -> None:
    """A version-1 complaint (and two steps) on p0, as the old code appended it, with the
    checkpoint a decider signed over it."""
    events = old_complaint_assigned_to_its_respondent(case_on_partition(0, settings.partitions))
    offsets = await append(settings, settings.events_topic, events)
    head = GENESIS_HASH
    for event in events:
        head = partition_chain(head, event["hash"], suite=SUITE)
    key = load_private_key(settings.signing_key_path)
    checkpoint = sign(key, 0, offsets[-1], len(events), head, datetime.now(UTC))
    await append(settings, settings.checkpoints_topic, [checkpoint.model_dump(mode="json")])


def run(settings: Settings, *args: str) -> str:
    result = casetrail(settings, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def events_of(settings: Settings) -> list[tuple[int, int, bytes]]:
    return sorted(await whole_topic(settings, settings.events_topic))


async def records_in(settings: Settings, *names: str) -> int:
    """How many records the topics hold (as the admin: nobody else reads submissions)."""
    admin_settings = settings.as_kafka_user(KafkaRole.ADMIN)
    partitions = [tp for name in names for tp in await topic_partitions(admin_settings, name)]
    return sum((await end_offsets(admin_settings, partitions)).values())


async def topics(settings: Settings) -> set[str]:
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        return set(await client.list_topics())


@pytest.fixture
async def read_models(servers: Settings) -> AsyncIterator[str]:
    """A database of its own for the new log's read models (rebuilt there)."""
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_mig_{uuid.uuid4().hex[:6]}"
    async with connect(with_database(servers.postgres_dsn, "postgres")) as conn:
        await conn.execute(f'CREATE DATABASE "{database}"')
        try:
            yield with_database(servers.postgres_dsn, database)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def test_a_plaintext_log_is_sealed_into_new_topics(
    servers: Settings, tmp_path: Path, read_models: str
) -> None:
    async with own_topics(servers, "plain", seal_personal_data=False) as old:
        new = old.model_copy(
            update={"topic_prefix": f"{old.topic_prefix}-sealed", "seal_personal_data": True}
        )
        record = tmp_path / "record.jsonl"
        try:
            await _migrate_and_check(old, new, record, tmp_path, read_models)
        finally:
            await delete_topics(new)


async def _migrate_and_check(
    old: Settings, new: Settings, record: Path, tmp_path: Path, read_models: str
) -> None:
    # --- a log as earlier releases wrote it ---------------------------------------------------
    await write_old_release_log(old)
    (decider,) = start_services(old, tmp_path / "old", "decider")
    cases = [f"XF-M-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    await decide(old, [complaint(cases[0]), petition(cases[1]), petition(cases[2])])
    await decide(old, [accept_body(cases[1], expected_version=1)])
    migrate = ("migrate", "seal-log", "--to-prefix", new.topic_prefix, "--evidence", str(record))
    refused = casetrail(old, *migrate)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "stop them first" in refused.stderr
    decider.stop()
    source = await events_of(old)
    assert any(COMPLAINANT.encode() in raw for _, _, raw in source)  # plaintext, as before

    # --- a dry run says what it would seal, and writes nothing --------------------------------
    dry = json.loads(run(old, *migrate, "--dry-run", "--json"))
    partitions = dry["partitions"]
    assert sum(p["written"] for p in partitions) == len(source) == 3 + 1 + 2 + 1
    assert sum(p["subjects"] for p in partitions) == 1 + 1 + 2 + 2  # one per person
    assert sum(p["upcast"] for p in partitions) == 1  # the v1 complaint
    assert new.events_topic not in await topics(new)

    # --- the migration ------------------------------------------------------------------------
    said = run(old, *migrate)
    assert f"wrote {len(source)} events" in said, said
    assert "warning" not in said, said
    sealed = await events_of(new)
    assert len(sealed) == len(source)
    for value in PLAINTEXT:
        assert not [raw for _, _, raw in sealed if value.encode() in raw], value
    assert await records_in(new, new.outcomes_topic, new.submissions_topic) == 0  # none copied
    assert await records_in(new, new.deadletter_topic) == 0
    run(new, "verify", "--log-only")

    # The record maps every old hash onto a new one, and checks.
    lines = (await asyncio.to_thread(record.read_text)).splitlines()
    pairs = [json.loads(line) for line in lines[1:-1]]
    assert {p["old_hash"] for p in pairs} == {json.loads(raw)["hash"] for _, _, raw in source}
    assert {p["new_hash"] for p in pairs} == {json.loads(raw)["hash"] for _, _, raw in sealed}
    assert "map one to one" in run(new, "migrate", "check-evidence", "--evidence", str(record))

    # Opened with the keys in the key store: the upcast originals; the envelopes unchanged.
    await _opens_to_the_originals(old, source, sealed)

    # --- again: nothing twice; then only what the old log got since ----------------------------
    assert "wrote 0 events" in run(old, *migrate)
    assert await events_of(new) == sealed
    # Meanwhile the old log's decider was upgraded and seals: its new event is copied as it
    # is, and still opens (its ciphertext is bound to its case, event id and place).
    upgraded = old.model_copy(update={"seal_personal_data": True})
    (decider,) = start_services(upgraded, tmp_path / "old-upgraded", "decider")
    await decide(old, [petition(cases[3])])
    decider.stop()
    said = run(old, *migrate)
    assert "wrote 1 event," in said
    assert "1 sealed before (copied as they were)" in said
    source, sealed = await events_of(old), await events_of(new)
    assert len(sealed) == len(source) == 8
    assert len({json.loads(raw)["event_id"] for _, _, raw in sealed}) == 8
    run(new, "verify", "--log-only")
    run(new, "migrate", "check-evidence", "--evidence", str(record))
    await _opens_to_the_originals(old, source, sealed)

    # --- the new log in service: read models rebuilt from it, a sealing decider on it ----------
    rebuilt = new.model_copy(update={"postgres_dsn": read_models})
    for projection in ("cases", "audit_trail", "officer_activity"):
        run(rebuilt, "rebuild", projection)
    (decider,) = start_services(new, tmp_path / "new", "decider")
    await decide(new, [accept_body(cases[2], expected_version=1)])
    decider.stop()
    run(rebuilt, "rebuild", "audit_trail")
    run(rebuilt, "verify")
    async with connect(read_models) as conn:
        for table in (t for projection in PROJECTIONS.values() for t in projection.tables):
            text = await conn.fetchval(f"SELECT coalesce(json_agg(t)::text, '') FROM {table} t")
            assert [value for value in PLAINTEXT if value in text] == [], table
    refused = casetrail(old, *migrate)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "in use already" in refused.stderr

    # --- the old topics go -----------------------------------------------------------------------
    drop = ("migrate", "drop-old", "--from-prefix", old.topic_prefix, "--evidence", str(record))
    assert old.events_topic in run(new, *drop)  # named, not deleted
    assert old.events_topic in await topics(old)
    run(new, *drop, "--yes")
    for _ in range(50):
        left = {t for t in await topics(old) if t.startswith(old.topic_prefix + ".")}
        if not left:
            break
        await asyncio.sleep(0.2)
    assert left == set()
    run(new, "migrate", "check-evidence", "--evidence", str(record))  # the new side still holds


async def _opens_to_the_originals(
    old: Settings, source: list[tuple[int, int, bytes]], sealed: list[tuple[int, int, bytes]]
) -> None:
    originals = {e.event_id: e for e in (Event.model_validate_json(raw) for _, _, raw in source)}
    migrated = [Event.model_validate_json(raw) for _, _, raw in sealed]
    subjects = {str(v["subject"]) for e in migrated for _, v in sealed_values(e.payload)}
    assert subjects
    async with open_keystore(old) as keystore:
        keys = await keystore.get(subjects)
    assert set(keys) == subjects
    assert all(keys.values())
    for event in migrated:
        original = originals[event.event_id]
        same = ("case_id", "version", "type", "occurred_at", "recorded_at", "actor", "department")
        assert [getattr(event, f) for f in same] == [getattr(original, f) for f in same]
        opened = open_payload(event.case_id, str(event.event_id), event.payload, keys)
        if sealed_values(original.payload):  # sealed by the decider that wrote it
            assert event.payload == original.payload
            expected = open_payload(
                original.case_id, str(original.event_id), original.payload, keys
            )
            assert "李四" in json.dumps(expected, ensure_ascii=False)
        elif has_personal_fields(event.type):
            expected = upcast(original.type, original.schema_version, dict(original.payload))
            assert event.schema_version == CURRENT_VERSIONS.get(event.type, 1)
            assert sealed_values(event.payload) or not personal_fields(event.type, expected)
        else:
            expected = original.payload
            assert event.schema_version == original.schema_version
        assert opened == expected, event.type


class DiesAtTheSecondPut(PgKeyStore):
    """The key store, through which the machine dies as the second transaction is about to
    commit (its events sent, its keys not stored)."""

    puts = 0

    async def put(self, keys: Sequence[SubjectKey]) -> None:
        self.puts += 1
        if self.puts == 2:
            raise RuntimeError("the machine died")
        await super().put(keys)


def decided_petitions(cases: int) -> list[dict[str, Any]]:
    """Petitions with petitioners, each registered, accepted and handled, as a decider that
    did not seal decided them (on one partition)."""
    state = PartitionState(load_officers(OFFICERS_FILE), VERIFIER, suite=SUITE)
    events = []
    for _ in range(cases):
        case_id = f"XF-M-{uuid.uuid4().hex[:8]}"
        handle = {**accept_body(case_id), "type": "petition.handle"}
        handle["payload"] = {"record": "走访核实情况"}
        for body in (petition(case_id), accept_body(case_id), handle):
            value = json.dumps(body, ensure_ascii=False).encode()
            decision = state.decide_record(signed_json(value), datetime.now(UTC))
            assert decision.outcome is not None
            assert decision.outcome.status == "accepted", decision.outcome.message
            state.commit()
            events += [e.model_dump(mode="json") for e in decision.events]
    return events


async def test_a_migration_stopped_midway_goes_on_where_it_stopped(
    servers: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with own_topics(servers, "halfway", seal_personal_data=False) as old:
        new = old.model_copy(update={"topic_prefix": f"{old.topic_prefix}-sealed"})
        record = tmp_path / "record.jsonl"
        try:
            events = decided_petitions(4)  # on p0, in plaintext
            assert len(events) == 12
            offsets = await append(old, old.events_topic, events)
            head = GENESIS_HASH
            for event in events:
                head = partition_chain(head, event["hash"], suite=SUITE)
            key = load_private_key(old.signing_key_path)
            signed = sign(key, 0, offsets[-1], len(events), head, datetime.now(UTC))
            await append(old, old.checkpoints_topic, [signed.model_dump(mode="json")])

            async with open_keystore(old) as real:

                @asynccontextmanager
                async def dying(_: Settings) -> AsyncIterator[KeyStore]:
                    yield DiesAtTheSecondPut(real.pool, real.master)

                monkeypatch.setattr(relog, "open_keystore", dying)
                with pytest.raises(RuntimeError, match="the machine died"):
                    await relog.seal_log(
                        old, new.topic_prefix, quiet, evidence=record, batch_events=4
                    )
                monkeypatch.undo()
            # The first transaction committed; the second aborted: none of it is visible.
            assert len(await events_of(new)) == 4
            assert not record.exists()
            run(new, "verify", "--log-only")

            migrate = ("migrate", "seal-log", "--to-prefix", new.topic_prefix)
            said = run(old, *migrate, "--evidence", str(record))
            assert "p0: 12 events (4 already on the target); wrote 8" in said, said
            sealed = await events_of(new)
            assert [json.loads(raw)["event_id"] for _, _, raw in sealed] == [
                e["event_id"] for e in events
            ]
            run(new, "verify", "--log-only")
            run(new, "migrate", "check-evidence", "--evidence", str(record))
            source = await events_of(old)
            await _opens_to_the_originals(old, source, sealed)
        finally:
            await delete_topics(new)


async def test_a_log_that_does_not_verify_is_not_migrated(servers: Settings) -> None:
    async with own_topics(servers, "unsigned", seal_personal_data=False) as old:
        new = old.model_copy(update={"topic_prefix": f"{old.topic_prefix}-sealed"})
        try:
            await append(old, old.events_topic, decided_petitions(1))  # no checkpoint covers it
            refused = casetrail(old, "migrate", "seal-log", "--to-prefix", new.topic_prefix)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "does not verify" in refused.stderr
            assert "no_checkpoints" in refused.stderr or "uncovered_event" in refused.stderr
            assert new.events_topic not in await topics(new)
        finally:
            await delete_topics(new)


OTHER = Suite.GUOMI if SUITE is Suite.INTERNATIONAL else Suite.INTERNATIONAL


def erase(settings: Settings, case_id: str) -> int:
    """Erase every person of the case (the decider records the step); the keys destroyed."""
    erased = run(
        settings, "erase", "--case", case_id, "--reason", "当事人申请删除",
        "--approved-by", "审计组 测试", "--json",
    )  # fmt: skip
    destroyed: int = json.loads(erased)["keys_destroyed"]
    return destroyed


async def opened(settings: Settings, sealed: list[tuple[int, int, bytes]]) -> dict[str, Any]:
    """Each event's payload opened with the key store (as ``settings``' suite wraps keys)."""
    events = [Event.model_validate_json(raw) for _, _, raw in sealed]
    async with open_keystore(settings) as keystore:
        keys = await keystore.get(set().union(*(subjects_in(e.payload) for e in events)))
    return {
        f"{e.case_id} v{e.version}": open_payload(e.case_id, str(e.event_id), e.payload, keys)
        for e in events
    }


async def test_a_sealed_log_moves_to_the_other_suite(servers: Settings, tmp_path: Path) -> None:
    async with own_topics(servers, "suite", seal_personal_data=True) as old:
        new = old.model_copy(
            update={"topic_prefix": f"{old.topic_prefix}-{OTHER}", "crypto_suite": OTHER}
        )
        # The other suite's development keys, as an operator makes them.
        run(servers.model_copy(update={"crypto_suite": OTHER}), "infra", "up")
        record = tmp_path / "record.jsonl"
        try:
            (decider,) = start_services(old, tmp_path / "old", "decider")
            erased, kept = (f"XF-S-{uuid.uuid4().hex[:8]}" for _ in range(2))
            await decide(old, [petition(erased), petition(kept)])
            assert erase(old, erased) == 2  # 李四 and 王五, before the migration
            decider.stop()
            source = await events_of(old)
            before = await opened(old, source)
            assert before[f"{kept} v1"]["petitioners"][0]["name"] == "李四"

            migrate = ("migrate", "seal-log", "--to-prefix", new.topic_prefix)
            said = run(old, *migrate, "--to-suite", str(OTHER), "--evidence", str(record), "--json")
            report = json.loads(said)
            assert (report["from_suite"], report["to_suite"]) == (SUITE, OTHER)
            moved = [(p["written"], p["reopened"], p["erased"]) for p in report["partitions"]]
            assert [sum(column) for column in zip(*moved, strict=True)] == [len(source), 2, 3]
            assert report["old_keys_destroyed"] == 2

            # Both logs verify, each under its own suite; the record checks each side.
            sealed = await events_of(new)
            assert len(sealed) == len(source)
            run(new, "verify", "--log-only")
            run(old, "verify", "--log-only")
            checked = run(new, "migrate", "check-evidence", "--evidence", str(record))
            assert f"map one to one onto {new.topic_prefix}" in checked, checked
            assert f"({SUITE} -> {OTHER})" in checked, checked
            header = json.loads((await asyncio.to_thread(record.read_text)).splitlines()[0])
            assert (header["from_suite"], header["to_suite"]) == (SUITE, OTHER)

            # The values read on the new log as on the old; the erased stay erased; the old
            # copies no longer open (their keys are gone).
            after = await opened(new, sealed)
            assert after == before
            assert after[f"{erased} v1"]["petitioners"][0]["name"] == ERASED
            for _, _, raw in sealed:
                event = Event.model_validate_json(raw)
                if event.case_id == kept and sealed_values(event.payload):
                    assert {v["alg"] for _, v in sealed_values(event.payload)} == {
                        CIPHER_ALG[OTHER]
                    }
            old_view = await opened(old, source)
            assert old_view[f"{kept} v1"]["petitioners"][0]["name"] == ERASED

            # The new log in service, under its suite: an erasure there erases.
            (decider,) = start_services(new, tmp_path / "new", "decider")
            assert erase(new, kept) == 2
            decider.stop()
            final = await opened(new, await events_of(new))
            people = final[f"{kept} v1"]["petitioners"]
            assert [(p["name"], p.get("phone")) for p in people] == [
                (ERASED, ERASED),
                (ERASED, None),
            ]
            run(new, "verify", "--log-only")
        finally:
            await delete_topics(new)
