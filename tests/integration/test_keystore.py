"""The key store on the real PostgreSQL (issue 13): keys kept wrapped, found by subject and case,
destroyed for good (no key left in the table, the row a tombstone that says why)."""

import asyncio
import base64
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from projections.db import connect
from services.adapters import case_store
from services.adapters.case_store import case_store_dsn
from services.privacy.cipher import CIPHER_ALG, MasterKey, MasterKeyError, new_subject_key
from services.privacy.keystore import (
    ROLE,
    SCHEMA,
    PgKeyStore,
    SubjectKey,
    keystore_dsn,
    open_keystore,
)
from services.settings import Settings
from tests.signing import SUITE
from tests.support import env_for


@pytest.fixture
async def keys(servers: Settings) -> AsyncIterator[PgKeyStore]:
    async with open_keystore(servers) as store:
        yield store


async def test_keys_are_kept_wrapped_and_destroyed_for_good(
    servers: Settings, keys: PgKeyStore
) -> None:
    case_id = f"KS-{uuid.uuid4().hex[:8]}"
    made = [
        SubjectKey(str(uuid.uuid4()), case_id, new_subject_key(CIPHER_ALG[SUITE])) for _ in range(3)
    ]
    await keys.put(made)
    await keys.put(made[:1])  # a retry after an aborted transaction changes nothing
    assert await keys.get([k.subject for k in made]) == {k.subject: k.key for k in made}
    (live,) = (await keys.live_keys([case_id, "no-such-case"])).values()
    assert sorted(k.subject for k in live) == sorted(k.subject for k in made)
    assert all(timedelta(0) <= k.age < timedelta(minutes=1) for k in live)  # just made
    assert await keys.case_of(made[0].subject) == case_id
    assert await keys.case_of(str(uuid.uuid4())) is None

    async with connect(keystore_dsn(servers)) as conn:
        stored = await conn.fetch(
            f"SELECT wrapped FROM {SCHEMA}.subject_keys WHERE case_id = $1", case_id
        )
    assert all(made_key.key not in bytes(row["wrapped"]) for row in stored for made_key in made)

    destroyed = await keys.destroy([made[0].subject, made[1].subject], "test: on request")
    assert destroyed == sorted([made[0].subject, made[1].subject])
    assert await keys.destroy([made[0].subject], "again") == []  # already gone: nothing to do
    found = await keys.get([k.subject for k in made])
    assert found == {made[0].subject: None, made[1].subject: None, made[2].subject: made[2].key}
    assert [k.subject for k in (await keys.live_keys([case_id]))[case_id]] == [made[2].subject]
    async with connect(keystore_dsn(servers)) as conn:
        tombstone = await conn.fetchrow(
            f"SELECT wrapped, destroyed_at, destroyed_because FROM {SCHEMA}.subject_keys"
            " WHERE subject = $1::uuid",
            made[0].subject,
        )
    assert tombstone is not None
    assert tombstone["wrapped"] is None
    assert tombstone["destroyed_at"] is not None
    assert tombstone["destroyed_because"] == "test: on request"


@pytest.mark.parametrize(
    ("schema", "role", "dsn"),
    [(SCHEMA, ROLE, keystore_dsn), (case_store.SCHEMA, case_store.ROLE, case_store_dsn)],
    ids=["key store", "case store"],
)
async def test_a_private_schema_is_no_other_roles_business(
    servers: Settings, schema: str, role: str, dsn: Callable[[Settings], str]
) -> None:
    """The key store belongs to casetrail_keys, the decider's case store to casetrail_decider;
    PUBLIC (so any role that is not a superuser) may not even look into either."""
    async with connect(servers.postgres_dsn) as conn:
        owner = await conn.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", schema
        )
        public_usage = await conn.fetchval(
            "SELECT has_schema_privilege('public', $1, 'USAGE')", schema
        )
        probe_role = f"probe_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE ROLE {probe_role} NOLOGIN")
        try:
            probe = await conn.fetchval(
                f"SELECT has_schema_privilege('{probe_role}', $1, 'USAGE')", schema
            )
        finally:
            await conn.execute(f"DROP ROLE {probe_role}")
    assert owner == role
    assert public_usage is False
    assert probe is False
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(dsn(servers).replace(f"{role}:", f"{role}:x"))


async def test_a_master_key_that_did_not_wrap_the_keys_opens_nothing_and_seals_nothing(
    servers: Settings, keys: PgKeyStore
) -> None:
    """A service given another master key (a key file made again by 'infra up' after the old
    one was lost, or another file mounted) must not fail every read with a 500, nor add keys
    wrapped by a master that opens none of the others: reads show such keys as not opening,
    and the first put says which master key the store expects."""
    case_id = f"KS-{uuid.uuid4().hex[:8]}"
    made = SubjectKey(str(uuid.uuid4()), case_id, new_subject_key(CIPHER_ALG[SUITE]))
    await keys.put([made])
    stranger = PgKeyStore(keys.pool, MasterKey(b"\x07" * 32, suite=SUITE))
    assert await stranger.get([made.subject]) == {}  # does not open: shown masked
    fresh = SubjectKey(str(uuid.uuid4()), case_id, new_subject_key(CIPHER_ALG[SUITE]))
    with pytest.raises(MasterKeyError, match=keys.master.key_id):
        await stranger.put([fresh])
    assert await keys.get([fresh.subject]) == {}  # nothing was written
    await keys.destroy([made.subject], "test: done")


def _decider_start(settings: Settings) -> subprocess.CompletedProcess[str]:
    """Start the decider and see it stop by itself (within a minute)."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "decider"],
        env=env_for(settings),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_the_decider_does_not_start_without_its_master_key_or_with_another(
    servers: Settings, keys: PgKeyStore, tmp_path: Path
) -> None:
    made = SubjectKey(
        str(uuid.uuid4()), f"KS-{uuid.uuid4().hex[:8]}", new_subject_key(CIPHER_ALG[SUITE])
    )
    await keys.put([made])  # the store holds a key of the servers' master key
    try:
        missing = servers.model_copy(update={"master_key_file": tmp_path / "none.key"})
        started = await asyncio.to_thread(_decider_start, missing)
        assert started.returncode == 2, started.stderr[-2000:]
        assert "the decider does not start: no master key" in started.stderr
        other = tmp_path / "other.key"
        other.write_text(base64.b64encode(b"\x07" * 32).decode())
        wrong = servers.model_copy(update={"master_key_file": other})
        started = await asyncio.to_thread(_decider_start, wrong)
        assert started.returncode == 2, started.stderr[-2000:]
        assert "wrapped by another master key" in started.stderr
        assert keys.master.key_id in started.stderr
    finally:
        await keys.destroy([made.subject], "test: done")
