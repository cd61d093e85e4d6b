"""The key store: each data subject's key, wrapped by the master key, kept outside Kafka.

``KeyStore`` is shaped like a key-management service (put, get, destroy), so that a real KMS can
take the place of ``PgKeyStore``: a PostgreSQL schema of its own (``keystore``) owned by a role
of its own (``casetrail_keys``), which the read models' role is not granted.

A destroyed key leaves a tombstone (when, and why) and no key: the data it sealed is erased
wherever it was copied. Destroying also vacuums the table, so that the key's bytes do not
linger in a dead row version on disk. Backups of the key store keep a destroyed key until they
expire: keep them shorter than any retention period (docs/privacy.md).
"""

import logging
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple, Protocol

import asyncpg

from projections.db import connect, create_pool, create_tables
from services.adapters.private_schema import (
    PrivateSchemaUnavailable,
    ensure_private_schema,
    role_dsn,
)
from services.privacy.cipher import MasterKey, MasterKeyError, SealError
from services.settings import Settings

log = logging.getLogger("casetrail.keystore")

ROLE = "casetrail_keys"
SCHEMA = "keystore"

DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.subject_keys (
    subject      uuid PRIMARY KEY,
    case_id      text NOT NULL,
    wrapped      bytea,
    master_id    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    destroyed_at timestamptz,
    destroyed_because text,
    CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS subject_keys_case ON {SCHEMA}.subject_keys (case_id);
"""


@dataclass(frozen=True)
class SubjectKey:
    subject: str
    case_id: str
    key: bytes


class LiveKey(NamedTuple):
    subject: str
    age: timedelta
    """How long ago the key was made (by the database's clock)."""


class KeyStore(Protocol):
    async def put(self, keys: Sequence[SubjectKey]) -> None:
        """Keep these keys (durably: the events they seal are appended only after)."""

    async def get(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        """The key of each subject it knows; None for a destroyed one (one that does not
        unwrap is left out)."""

    async def live_keys(self, case_ids: Collection[str]) -> dict[str, list[LiveKey]]:
        """Of each case that has any, the subjects whose keys are not destroyed, and how long
        ago each key was made (one question for many cases)."""

    async def case_of(self, subject: str) -> str | None:
        """The case a subject belongs to."""

    async def destroy(self, subjects: Collection[str], because: str) -> list[str]:
        """Destroy these subjects' keys; the subjects whose key this call destroyed."""


class PgKeyStore:
    def __init__(self, pool: asyncpg.Pool, master: MasterKey):
        self.pool, self.master = pool, master
        self.master_checked = False
        """Whether this master key is known to be the one that wrapped the live keys."""

    async def check_master(self) -> None:
        """MasterKeyError if a live key was wrapped by another master key: keys added under
        this one would open where the others do not (a key file made anew after the old one was
        lost, or another file given to this service), and nobody would notice until a read."""
        if self.master_checked:
            return
        async with self.pool.acquire() as conn:
            others = await conn.fetch(
                f"SELECT master_id, count(*) AS keys FROM {SCHEMA}.subject_keys"
                " WHERE wrapped IS NOT NULL AND master_id <> $1 GROUP BY master_id",
                self.master.key_id,
            )
        if others:
            found = ", ".join(f"{row['keys']} by {row['master_id']}" for row in others)
            raise MasterKeyError(
                f"the key store holds keys wrapped by another master key ({found}), not by this"
                f" one ({self.master.key_id}): give every service the master key file that"
                " wrapped them (CASETRAIL_MASTER_KEY_FILE)"
            )
        self.master_checked = True

    async def put(self, keys: Sequence[SubjectKey]) -> None:
        if not keys:
            return
        rows = [
            (k.subject, k.case_id, self.master.wrap(k.subject, k.key), self.master.key_id)
            for k in keys
        ]
        await self.check_master()
        async with self.pool.acquire() as conn:
            await conn.executemany(
                f"INSERT INTO {SCHEMA}.subject_keys (subject, case_id, wrapped, master_id)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO NOTHING",
                rows,
            )

    async def get(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        if not subjects:
            return {}
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT subject::text, wrapped, master_id FROM {SCHEMA}.subject_keys"
                " WHERE subject = ANY($1::uuid[])",
                list(subjects),
            )
        found: dict[str, bytes | None] = {}
        for row in rows:
            if row["wrapped"] is None:
                found[row["subject"]] = None
                continue
            try:
                found[row["subject"]] = self.master.unwrap(row["subject"], row["wrapped"])
            except SealError as error:
                # Left out: what it sealed reads as not opening, never as a failed read.
                log.error("%s (wrapped by master key %s)", error, row["master_id"])
        return found

    async def live_keys(self, case_ids: Collection[str]) -> dict[str, list[LiveKey]]:
        if not case_ids:
            return {}
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT case_id, subject::text, now() - created_at AS age"
                f" FROM {SCHEMA}.subject_keys"
                " WHERE case_id = ANY($1::text[]) AND wrapped IS NOT NULL"
                " ORDER BY case_id, created_at, subject",
                list(case_ids),
            )
        found: dict[str, list[LiveKey]] = {}
        for row in rows:
            found.setdefault(row["case_id"], []).append(LiveKey(row["subject"], row["age"]))
        return found

    async def case_of(self, subject: str) -> str | None:
        async with self.pool.acquire() as conn:
            found: str | None = await conn.fetchval(
                f"SELECT case_id FROM {SCHEMA}.subject_keys WHERE subject = $1::uuid", subject
            )
        return found

    async def destroy(self, subjects: Collection[str], because: str) -> list[str]:
        if not subjects:
            return []
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"UPDATE {SCHEMA}.subject_keys SET wrapped = NULL, destroyed_at = now(),"
                " destroyed_because = $2 WHERE subject = ANY($1::uuid[]) AND wrapped IS NOT NULL"
                " RETURNING subject::text",
                list(subjects),
                because,
            )
            if rows:
                # The old row versions still hold the wrapped keys until vacuumed.
                await conn.execute(f"VACUUM {SCHEMA}.subject_keys")
        return sorted(row["subject"] for row in rows)


def keystore_dsn(settings: Settings) -> str:
    """The key store's DSN: the setting, or the read models' server as ``casetrail_keys``."""
    if settings.keystore_dsn is not None:
        return settings.keystore_dsn
    return role_dsn(settings, ROLE, settings.keystore_password_path, "CASETRAIL_KEYSTORE_DSN")


KeyStoreUnavailable = PrivateSchemaUnavailable
"""The key store cannot be reached or is not set up."""


@asynccontextmanager
async def open_keystore(
    settings: Settings, create_master: bool = False
) -> AsyncIterator[PgKeyStore]:
    master = MasterKey.load(settings.master_key_path, settings.crypto_suite, create_master)
    pool = await create_pool(keystore_dsn(settings), max_size=4, lazy=True, connect_timeout=10)
    try:
        yield PgKeyStore(pool, master)
    finally:
        await pool.close()


async def ensure_keystore(settings: Settings) -> str:
    """Development set-up ('casetrail infra up'): the role with a password kept in the state
    directory (mode 600), its schema in the read models' database, which no other role may use,
    its table, and the master key file. Signs in as the read models' role, which must be allowed
    to create roles (the local server's is); with CASETRAIL_KEYSTORE_DSN set, only the table."""
    MasterKey.load(settings.master_key_path, settings.crypto_suite, create=True)
    if settings.keystore_dsn is None:
        path, setting = settings.keystore_password_path, "CASETRAIL_KEYSTORE_DSN"
        await ensure_private_schema(settings, ROLE, SCHEMA, path, setting)
    async with connect(keystore_dsn(settings)) as conn:
        await create_tables(conn, DDL)
    return f"key store: schema {SCHEMA} (role {ROLE}) ready; master key {settings.master_key_path}"
