"""Bearer tokens: who may call the HTTP services, stored hashed in PostgreSQL.

A token is shown once, when created; only its SHA-256 is kept. Each token has a role and, for a
department token, the one department it speaks for (the gateway lets it submit only as officers
of that department, never as the system clock).
"""

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from projections.db import Connection, create_pool, create_tables, nothing_to_reset
from projections.transient import is_transient

log = logging.getLogger("casetrail.tokens")

DDL = """
CREATE TABLE IF NOT EXISTS access_tokens (
    token_id    text PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    role        text NOT NULL,
    departments text[] NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
"""


class TokenRole(StrEnum):
    DEPARTMENT = "department"
    """Submits for its one department; reads that department's cases."""
    SUPERVISOR = "supervisor"
    """Reads every department's cases, or only the listed ones; no personal data."""
    AUDITOR = "auditor"
    """Reads everything: history, as-of, verification, officer activity, personal data (logged)."""
    PUBLIC = "public"
    """Aggregate statistics only."""


@dataclass(frozen=True)
class Token:
    token_id: str
    role: TokenRole
    departments: tuple[str, ...]
    name: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row: asyncpg.Record) -> Token:
    return Token(
        row["token_id"],
        TokenRole(row["role"]),
        tuple(row["departments"]),
        row["name"],
        row["created_at"],
        row["revoked_at"],
    )


async def create(
    conn: Connection, role: TokenRole, departments: list[str], name: str
) -> tuple[Token, str]:
    """A new token and its secret (the only time the secret exists outside the caller)."""
    await create_tables(conn, DDL)
    token_id = secrets.token_hex(4)
    secret = f"ct_{token_id}_{secrets.token_urlsafe(24)}"
    row = await conn.fetchrow(
        "INSERT INTO access_tokens (token_id, token_hash, role, departments, name)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *",
        token_id,
        _hash(secret),
        role.value,
        departments,
        name,
    )
    assert row is not None
    return _token(row), secret


async def listed(conn: Connection) -> list[Token]:
    await create_tables(conn, DDL)
    rows = await conn.fetch("SELECT * FROM access_tokens ORDER BY created_at, token_id")
    return [_token(row) for row in rows]


async def revoke(conn: Connection, token_id: str) -> bool:
    await create_tables(conn, DDL)
    status = await conn.execute(
        "UPDATE access_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return bool(status.endswith(" 1"))


async def holder(conn: Connection, secret: str) -> Token | None:
    """The live token with this secret, or None."""
    row = await conn.fetchrow(
        "SELECT * FROM access_tokens WHERE token_hash = $1 AND revoked_at IS NULL", _hash(secret)
    )
    return _token(row) if row is not None else None


class TokenCache:
    """Looks bearer tokens up in PostgreSQL, remembering live ones for a few seconds: a revoked
    token stops working within ``ttl`` seconds, and a busy service does not ask every time.

    It remembers only live tokens, keyed by the SHA-256 of their secret (the key PostgreSQL
    holds too), at most ``capacity`` of them, the most recently used: no bearer string is kept
    in memory, and a client sending made-up tokens costs a lookup each, never the service's
    memory nor a real token's place in the cache.

    PostgreSQL may be down when the service starts or go away later: ``start`` never fails for
    that (its pool connects lazily), and a lookup that cannot reach PostgreSQL raises the
    connection's own error, which ``projections.transient.is_transient`` recognises (the HTTP
    services answer 503 ``database_unavailable``); the next lookup tries again, so the cache
    recovers by itself. A remembered answer is never kept past its ``ttl`` to bridge an outage:
    a revoked token must stop working."""

    def __init__(self, ttl: float = 5.0, capacity: int = 10_000):
        self.ttl, self.capacity = ttl, capacity
        self.pool: asyncpg.Pool | None = None
        self.known: OrderedDict[str, tuple[float, Token]] = OrderedDict()
        """Live tokens by the SHA-256 of their secret: until when the answer holds, the token."""
        self.table_ready = False
        self._preparing = asyncio.Lock()
        self.looking: dict[str, asyncio.Future[Token | None]] = {}
        """Lookups under way, by key: the requests that come meanwhile wait for the same
        answer (when a busy token's answer expires, every request of the next moment would
        otherwise ask PostgreSQL, and queue for the pool's few connections)."""

    async def start(self, dsn: str) -> None:
        # Its connections run single statements outside transactions: nothing to reset.
        self.pool = await create_pool(dsn, lazy=True, connect_timeout=10, reset=nothing_to_reset)
        try:
            await self._prepare()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("tokens: PostgreSQL does not answer (%s); looking up later", error)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def _prepare(self) -> asyncpg.Pool:
        """The pool, once the tokens table exists (created on the first lookup that reaches
        PostgreSQL, if PostgreSQL was down at start)."""
        assert self.pool is not None, "start() first"
        if not self.table_ready:
            async with self._preparing:
                if not self.table_ready:
                    async with self.pool.acquire() as conn:
                        await create_tables(conn, DDL)
                    self.table_ready = True
        return self.pool

    async def holder(self, secret: str) -> Token | None:
        """The live token with this secret, or None."""
        key = _hash(secret)
        now = time.monotonic()
        cached = self.known.get(key)
        if cached is not None and cached[0] >= now:
            self.known.move_to_end(key)
            return cached[1]
        self.known.pop(key, None)
        under_way = self.looking.get(key)
        if under_way is not None:
            try:
                return await asyncio.shield(under_way)
            except asyncio.CancelledError:
                if not under_way.cancelled():
                    raise  # this request was cancelled
                # The one that asked was (its client went away): ask ourselves.
                return await self._look_up(secret)
        answer = self.looking[key] = asyncio.get_running_loop().create_future()
        try:
            token = await self._look_up(secret)
        except asyncio.CancelledError:
            answer.cancel()
            raise
        except Exception as error:
            answer.set_exception(error)
            answer.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            del self.looking[key]
        answer.set_result(token)
        if token is not None:
            self.known[key] = (now + self.ttl, token)
            while len(self.known) > self.capacity:
                self.known.popitem(last=False)
        return token

    async def _look_up(self, secret: str) -> Token | None:
        pool = await self._prepare()
        async with pool.acquire() as conn:
            return await holder(conn, secret)
