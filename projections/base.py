"""What a projection is: a name, a schema version, its tables, and how events change them."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from events.model import Event

Connection = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class LoggedEvent:
    """An event with its coordinates on the log."""

    event: Event
    partition: int
    offset: int


SCHEMA_LOCK = 0x43415345  # any constant: serialises DDL between processes


async def create_tables(conn: Connection, ddl: str) -> None:
    """Run idempotent DDL. Concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's
    catalog, so every process creating tables takes the same advisory lock first."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        await conn.execute(ddl)


class Projection(Protocol):
    name: str
    version: int
    """The schema version of its tables: a change means a rebuild."""
    tables: tuple[str, ...]
    """The tables readers see (as views onto the live build)."""
    ddl: str
    """SQL creating the tables, unqualified: it runs in the build's own schema."""
    indexes: str
    """SQL creating the indexes; a rebuild runs it after the bulk load."""

    async def apply(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        """Write the effect of ``batch`` (in log order) inside the caller's transaction."""
        ...
