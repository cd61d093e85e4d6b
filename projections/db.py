"""The one place that knows how CaseTrail talks to PostgreSQL: connections, DDL, schemas.

It lives in ``projections`` because that is the lowest layer that needs PostgreSQL: the read
models use it, and so does every service (which may import ``projections``, never the reverse).
"""

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy

SCHEMA_LOCK = 0x43415345  # any constant: serialises DDL between processes


@asynccontextmanager
async def connect(dsn: str, connect_timeout: float = 60) -> AsyncIterator[asyncpg.Connection]:
    """One connection, closed when the block ends (pass or fail)."""
    conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    try:
        yield conn
    finally:
        await conn.close()


async def create_pool(
    dsn: str,
    max_size: int = 4,
    init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None,
    *,
    lazy: bool = False,
    connect_timeout: float = 60,
    reset: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None,
) -> asyncpg.Pool:
    """A pool that opens one connection straight away (so that a wrong address fails early),
    or, ``lazy``, none until one is acquired: then creating it never fails, and every acquire
    while PostgreSQL is down raises that request's own (transient) connection error.

    A pool recovers by itself when PostgreSQL comes back: an acquire replaces a connection the
    server closed with a new one.

    ``reset`` replaces what a connection's release runs on the server (asyncpg's default is a
    round trip that closes cursors, unlistens, unlocks and resets every setting): for a user
    that leaves none of these behind. An open transaction is rolled back either way."""
    return await asyncpg.create_pool(
        dsn,
        min_size=0 if lazy else 1,
        max_size=max_size,
        init=init,
        timeout=connect_timeout,
        reset=reset,
    )


async def nothing_to_reset(_: asyncpg.Connection) -> None:
    """A ``reset`` for connections used in transactions only, whose settings are ``SET
    LOCAL`` and whose advisory locks are transaction locks: nothing outlives the transaction."""


async def create_tables(conn: Connection, ddl: str) -> None:
    """Run idempotent DDL. Concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's
    catalog, so every process creating tables takes the same advisory lock first."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        await conn.execute(ddl)


async def use_schema(conn: Connection, schema: str) -> None:
    """Unqualified names mean ``schema`` (then ``public``) until the caller's transaction ends."""
    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')


async def fetch_dicts(conn: Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of a query as plain dicts (what the API returns and the commands print)."""
    return [dict(row) for row in await conn.fetch(sql, *args)]
