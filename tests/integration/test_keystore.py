"""The key store on the real PostgreSQL (issue 13): keys kept wrapped, found by subject and case,
destroyed for good (no key left in the table, the row a tombstone that says why)."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from projections.db import connect
from services.privacy.cipher import new_subject_key
from services.privacy.keystore import SCHEMA, PgKeyStore, SubjectKey, keystore_dsn, open_keystore
from services.settings import Settings


@pytest.fixture
async def keys(servers: Settings) -> AsyncIterator[PgKeyStore]:
    async with open_keystore(servers) as store:
        yield store


async def test_keys_are_kept_wrapped_and_destroyed_for_good(
    servers: Settings, keys: PgKeyStore
) -> None:
    case_id = f"KS-{uuid.uuid4().hex[:8]}"
    made = [SubjectKey(str(uuid.uuid4()), case_id, new_subject_key()) for _ in range(3)]
    await keys.put(made)
    await keys.put(made[:1])  # a retry after an aborted transaction changes nothing
    assert await keys.get([k.subject for k in made]) == {k.subject: k.key for k in made}
    assert sorted(await keys.live_subjects(case_id)) == sorted(k.subject for k in made)
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
    assert await keys.live_subjects(case_id) == [made[2].subject]
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


async def test_the_key_store_is_no_other_roles_business(servers: Settings) -> None:
    """The schema belongs to casetrail_keys, and PUBLIC (so any role that is not a superuser)
    may not even look into it."""
    async with connect(servers.postgres_dsn) as conn:
        owner = await conn.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", SCHEMA
        )
        public_usage = await conn.fetchval(
            "SELECT has_schema_privilege('public', $1, 'USAGE')", SCHEMA
        )
        role = f"probe_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            probe = await conn.fetchval(
                f"SELECT has_schema_privilege('{role}', $1, 'USAGE')", SCHEMA
            )
        finally:
            await conn.execute(f"DROP ROLE {role}")
    assert owner == "casetrail_keys"
    assert public_usage is False
    assert probe is False
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(keystore_dsn(servers).replace("casetrail_keys:", "casetrail_keys:x"))
