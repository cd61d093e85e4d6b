"""What a projection is: a name, a schema version, its tables, and how events change them."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from events.model import Event
from projections.db import Connection


@dataclass(frozen=True)
class LoggedEvent:
    """An event with its coordinates on the log."""

    event: Event
    partition: int
    offset: int

    @classmethod
    def parse(cls, value: bytes | None, partition: int, offset: int) -> "LoggedEvent":
        """The event stored at ``partition``@``offset``; raises ValidationError if it is none."""
        return cls(Event.model_validate_json(value or b""), partition, offset)


class Projection(Protocol):
    name: str
    version: int
    """The schema version of its tables: a change means a rebuild."""
    tables: tuple[str, ...]
    """The tables readers see (as views onto the live build)."""
    ddl: str
    """SQL creating the tables, unqualified: it runs in the build's own schema."""
    indexes: str
    """SQL creating the indexes (idempotent); a rebuild runs it after the bulk load."""

    async def apply(
        self, conn: Connection, batch: Sequence[LoggedEvent], memo: dict[str, Any] | None = None
    ) -> None:
        """Write the effect of ``batch`` (each partition's events in log order) inside the
        caller's transaction.

        ``memo`` is where the projection may keep what it knows between batches (the cases'
        states, instead of reading them back): the caller passes the same dict to every batch
        for as long as each one committed and nobody else wrote the partitions (the bulk loader,
        which checks the checkpoints at every transaction and drops the dict on any failure)."""
        ...
