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


class Projection(Protocol):
    name: str
    version: int
    ddl: str
    """Idempotent SQL creating the projection's tables and indexes."""

    async def apply(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        """Write the effect of ``batch`` (in log order) inside the caller's transaction."""
        ...
