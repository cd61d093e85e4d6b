"""How events reach a build: a projection's rows and its checkpoint, in one transaction.

The live projector (``services.projector.runtime``) writes its batches through ``write_live``;
the bulk loader (``services.projector.bulk``: a rebuild, and the live projector's catch-up)
writes a fetch of several partitions through the same ``Projection.apply`` and moves their
checkpoints in its own transaction, after checking them as ``write_live`` does. Each build
keeps, per partition of the events topic, the next offset it will apply
(``projection_checkpoint``), in the same transaction as the rows, so a crash can never apply an
event twice or skip one.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from projections import builds
from projections.db import Connection
from projections.projection import LoggedEvent, Projection
from projections.transient import describe


class BuildSwitched(Exception):
    """A rebuild published another build: carry on there, from its own checkpoints."""

    def __init__(self, live: int | None):
        super().__init__(f"build {live} is live now")
        self.live = live

    def __reduce__(self) -> tuple[type["BuildSwitched"], tuple[int | None]]:
        # A bulk loading process raises it to its parent: it must cross pickled, live and all.
        return (BuildSwitched, (self.live,))


async def write_batch(
    conn: Connection,
    projection: Projection,
    topic: str,
    partition: int,
    batch: Sequence[LoggedEvent],
) -> None:
    """Apply ``batch`` (one partition's events, in log order) to the build the connection uses
    and move that partition's checkpoint past it, inside the caller's transaction."""
    await projection.apply(conn, batch)
    await conn.execute(
        "INSERT INTO projection_checkpoint VALUES ($1, $2, $3) ON CONFLICT (topic, partition)"
        " DO UPDATE SET next_offset = EXCLUDED.next_offset",
        topic,
        partition,
        batch[-1].offset + 1,
    )


async def write_live(
    conn: Connection,
    projection: Projection,
    build: int,
    topic: str,
    start: int,
    batch: Sequence[LoggedEvent],
) -> int:
    """The live projector's batch: written only if ``build`` is still live (else BuildSwitched)
    and the partition's stored checkpoint is still ``start``, so that an instance that lost the
    partition can never write behind its successor. Returns the checkpoint after the call: past
    the batch if it was written, else the one the other instance stored.

    The same transaction clears what the partition's health reports: the error rows of events
    now behind the checkpoint (the event at an error row has applied after all) and the
    partition's ``projection_retrying`` row (a write went through)."""
    partition = batch[0].partition
    async with conn.transaction():
        # FOR SHARE on the live build: no rebuild can switch while this batch is written.
        live = await builds.live_build(conn, projection.name, lock=True)
        if live != build:
            raise BuildSwitched(live)
        await builds.use_build(conn, projection.name, build)
        stored: int = await conn.fetchval(
            "SELECT next_offset FROM projection_checkpoint WHERE topic = $1 AND partition = $2"
            " FOR UPDATE",
            topic,
            partition,
        )
        if stored == start:
            await write_batch(conn, projection, topic, partition, batch)
            stored = batch[-1].offset + 1
        await clear_reports(conn, projection.name, build, topic, partition, stored)
    return stored


async def clear_reports(
    conn: Connection, projection: str, build: int, topic: str, partition: int, stored: int
) -> None:
    """Clear what the partition's health reports once its checkpoint is ``stored``: the error
    rows of events now behind it (they have applied after all) and its ``projection_retrying``
    row (a write went through)."""
    await conn.execute(
        "WITH cleared AS (DELETE FROM projection_errors WHERE projection = $1 AND build = $2"
        " AND topic = $3 AND partition = $4 AND log_offset < $5)"
        " DELETE FROM projection_retrying WHERE projection = $1 AND build = $2"
        " AND topic = $3 AND partition = $4",
        projection,
        build,
        topic,
        partition,
        stored,
    )


async def write_live_together(
    conn: Connection,
    projection: Projection,
    build: int,
    topic: str,
    batches: Mapping[int, tuple[int, Sequence[LoggedEvent]]],
) -> dict[int, int]:
    """``write_live`` for the batches of several partitions (each partition: the offset it
    starts from and its events in log order) in one transaction: what one fetch brought. A
    transaction costs the same eight or so round trips whatever it holds; one per partition
    each time cost more than the events. Each partition is written only where its stored
    checkpoint is still where its batch starts; returns each partition's checkpoint after the
    call. Either every batch that could be written is, or none (then write them one by one to
    tell which fails)."""
    partitions = sorted(batches)
    async with conn.transaction():
        live = await builds.live_build(conn, projection.name, lock=True)
        if live != build:
            raise BuildSwitched(live)
        await builds.use_build(conn, projection.name, build)
        rows = await conn.fetch(
            "SELECT partition, next_offset FROM projection_checkpoint WHERE topic = $1"
            " AND partition = ANY($2::integer[]) ORDER BY partition FOR UPDATE",
            topic,
            partitions,
        )
        stored: dict[int, int] = {row["partition"]: row["next_offset"] for row in rows}
        writable = [p for p in partitions if stored.get(p) == batches[p][0]]
        if writable:
            # Events of different partitions are of different cases: their order among
            # each other does not matter, each partition's own order is kept.
            await projection.apply(conn, [e for p in writable for e in batches[p][1]])
            ends = [batches[p][1][-1].offset + 1 for p in writable]
            await conn.execute(
                "INSERT INTO projection_checkpoint"
                " SELECT $1, partition, next_offset FROM unnest($2::integer[], $3::bigint[])"
                " AS t(partition, next_offset)"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                topic,
                writable,
                ends,
            )
            stored.update(zip(writable, ends, strict=True))
        known = [p for p in partitions if p in stored]
        await conn.execute(
            "WITH cleared AS (DELETE FROM projection_errors e USING"
            " unnest($4::integer[], $5::bigint[]) AS s(partition, stored)"
            " WHERE e.projection = $1 AND e.build = $2 AND e.topic = $3"
            " AND e.partition = s.partition AND e.log_offset < s.stored)"
            " DELETE FROM projection_retrying WHERE projection = $1 AND build = $2"
            " AND topic = $3 AND partition = ANY($4::integer[])",
            projection.name,
            build,
            topic,
            known,
            [stored[p] for p in known],
        )
    return stored


async def stored_offsets(
    conn: Connection, projection: str, build: int, topic: str, partitions: Iterable[int]
) -> dict[int, int]:
    """Where the build resumes each partition; creates a row (offset 0) for a partition it has
    never seen, so that a live batch always has a row to lock."""
    schema = builds.schema_of(projection, build)
    await conn.executemany(
        f'INSERT INTO "{schema}".projection_checkpoint VALUES ($1, $2, 0) ON CONFLICT DO NOTHING',
        [(topic, partition) for partition in partitions],
    )
    rows = await conn.fetch(
        f'SELECT partition, next_offset FROM "{schema}".projection_checkpoint WHERE topic = $1',
        topic,
    )
    return {row["partition"]: row["next_offset"] for row in rows}


async def forget_retrying(
    conn: Connection, projection: str, build: int, topic: str, partitions: Iterable[int]
) -> None:
    """Drop the ``projection_retrying`` rows of partitions a projector has just been given: they
    belonged to their previous owner, and the new one starts afresh."""
    await conn.execute(
        "DELETE FROM projection_retrying WHERE projection = $1 AND build = $2 AND topic = $3"
        " AND partition = ANY($4::integer[])",
        projection,
        build,
        topic,
        list(partitions),
    )


async def record_retrying(
    conn: Connection,
    projection: str,
    build: int,
    topic: str,
    partition: int,
    since: datetime,
    attempts: int,
    error: str,
    failed_at: int | None = None,
) -> None:
    """A partition whose writes keep failing for a passing reason (``projections.transient``):
    since when, how many attempts, the last error. The next write that goes through deletes the
    row (``write_live``).

    With ``failed_at`` (the offset the failed write started at), nothing is recorded once the
    partition's checkpoint is past it: a report that reached the server late (a slow or cut
    connection) must not outlive the write that succeeded meanwhile. Both lock the checkpoint
    row, so one of them always sees the other."""
    async with conn.transaction():
        if failed_at is not None:
            await builds.use_build(conn, projection, build)
            stored = await conn.fetchval(
                "SELECT next_offset FROM projection_checkpoint WHERE topic = $1"
                " AND partition = $2 FOR UPDATE",
                topic,
                partition,
            )
            if stored is not None and stored > failed_at:
                return
        await conn.execute(
            "INSERT INTO projection_retrying"
            " (projection, build, topic, partition, since, attempts, last_error)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (projection, build, topic, partition)"
            " DO UPDATE SET since = EXCLUDED.since, attempts = EXCLUDED.attempts,"
            " last_error = EXCLUDED.last_error, last_attempt = now()",
            projection,
            build,
            topic,
            partition,
            since,
            attempts,
            error,
        )


async def record_error(
    conn: Connection,
    projection: str,
    build: int,
    topic: str,
    partition: int,
    offset: int,
    error: Exception,
) -> None:
    """An event the projection cannot apply, with its coordinates (``casetrail lag`` and
    ``GET /health/projections`` report it until the event applies: ``write_live`` clears it).
    The partition has stopped: it is no longer retrying."""
    await conn.execute(
        "WITH stopped AS (DELETE FROM projection_retrying WHERE projection = $1 AND build = $2"
        " AND topic = $3 AND partition = $4)"
        " INSERT INTO projection_errors (projection, build, topic, partition, log_offset, error)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        projection,
        build,
        topic,
        partition,
        offset,
        describe(error),
    )
