"""Builds: every projection lives in a PostgreSQL schema of its own per build, and readers see
the live build through views in the public schema.

A rebuild fills build n + 1 beside the live build n, then publishes it by replacing the views in
one transaction: readers see either the old build or the new one, never half of one. The live
projector notices the switch at its next batch and carries on in the new build.
"""

from collections.abc import Iterable

import asyncpg

from projections.db import Connection, create_tables, use_schema
from projections.projection import Projection

BUILDS_DDL = """
CREATE TABLE IF NOT EXISTS projection_builds (
    projection     text NOT NULL,
    build          integer NOT NULL,
    schema_version integer NOT NULL,
    state          text NOT NULL CHECK (state IN ('building', 'live', 'retired')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    live_since     timestamptz,
    PRIMARY KEY (projection, build)
);
CREATE UNIQUE INDEX IF NOT EXISTS projection_builds_one_live
    ON projection_builds (projection) WHERE state = 'live';
-- Events a build could not apply: its partition stopped there (until the event applies).
CREATE TABLE IF NOT EXISTS projection_errors (
    projection  text NOT NULL,
    build       integer NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    log_offset  bigint NOT NULL,
    error       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, build, topic, partition, log_offset)
);
-- Partitions whose writes keep failing for a reason that passes (services.projector.runtime).
CREATE TABLE IF NOT EXISTS projection_retrying (
    projection   text NOT NULL,
    build        integer NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    since        timestamptz NOT NULL,
    attempts     integer NOT NULL,
    last_error   text NOT NULL,
    last_attempt timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, build, topic, partition)
);
"""

CHECKPOINT_DDL = """
CREATE TABLE projection_checkpoint (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


def schema_of(projection: str, build: int) -> str:
    return f"{projection}_b{build}"


async def use_build(conn: Connection, projection: str, build: int) -> None:
    """The build's tables are what unqualified names mean until the transaction ends."""
    await use_schema(conn, schema_of(projection, build))


async def live_build(
    conn: Connection, projection: str, lock: bool = False, exclusive: bool = False
) -> int | None:
    """The live build. With ``lock`` its row stays locked until the transaction ends: shared by
    a projector writing a batch (so no switch happens meanwhile), ``exclusive`` by a rebuild
    about to switch (so no batch is written meanwhile)."""
    mode = (" FOR UPDATE" if exclusive else " FOR SHARE") if lock else ""
    build: int | None = await conn.fetchval(
        "SELECT build FROM projection_builds WHERE projection = $1 AND state = 'live'" + mode,
        projection,
    )
    return build


async def live_offsets(conn: Connection, projection: str, topic: str) -> dict[int, int]:
    """How far the live build of ``projection`` has applied each partition of ``topic``."""
    build = await live_build(conn, projection)
    if build is None:
        return {}
    return await offsets(conn, projection, build, topic)


async def offsets(conn: Connection, projection: str, build: int, topic: str) -> dict[int, int]:
    """How far ``build`` of ``projection`` has applied each partition of ``topic``."""
    rows = await conn.fetch(
        f'SELECT partition, next_offset FROM "{schema_of(projection, build)}".projection_checkpoint'
        " WHERE topic = $1",
        topic,
    )
    return {row["partition"]: row["next_offset"] for row in rows}


async def new_build(conn: Connection, projection: Projection, with_indexes: bool) -> int:
    """A new, empty build in its own schema (state 'building')."""
    await create_tables(conn, BUILDS_DDL)
    async with conn.transaction():
        build: int = await conn.fetchval(
            "SELECT coalesce(max(build), 0) + 1 FROM projection_builds WHERE projection = $1",
            projection.name,
        )
        schema = schema_of(projection.name, build)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await use_schema(conn, schema)
        await conn.execute(CHECKPOINT_DDL + projection.ddl)
        if with_indexes:
            await conn.execute(projection.indexes)
        await conn.execute(
            "INSERT INTO projection_builds (projection, build, schema_version, state)"
            " VALUES ($1, $2, $3, 'building')",
            projection.name,
            build,
            projection.version,
        )
    return build


async def unfinished_build(conn: Connection, projection: Projection) -> int | None:
    """The build an interrupted rebuild left (state 'building', of the code's schema version,
    its schema still there), for the next rebuild to resume; None if there is none. Only one
    rebuild of a projection runs at a time (``services.projector.rebuild`` holds a lock)."""
    await create_tables(conn, BUILDS_DDL)
    build: int | None = await conn.fetchval(
        "SELECT max(build) FROM projection_builds b WHERE projection = $1 AND state = 'building'"
        " AND schema_version = $2"
        " AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = b.projection || '_b' || b.build)",
        projection.name,
        projection.version,
    )
    return build


async def publish(conn: Connection, projection: Projection, build: int) -> int | None:
    """Make ``build`` the live one, in the caller's transaction; returns the build it replaces.
    Takes the builds row FOR UPDATE, so it waits for a live batch in flight to commit."""
    previous: int | None = await conn.fetchval(
        "SELECT build FROM projection_builds WHERE projection = $1 AND state = 'live' FOR UPDATE",
        projection.name,
    )
    schema = schema_of(projection.name, build)
    for table in projection.tables:
        await conn.execute(f'DROP VIEW IF EXISTS public."{table}"')
        await conn.execute(f'CREATE VIEW public."{table}" AS SELECT * FROM "{schema}"."{table}"')
    await conn.execute(
        "UPDATE projection_builds SET state = 'retired' WHERE projection = $1 AND state = 'live'",
        projection.name,
    )
    await conn.execute(
        "UPDATE projection_builds SET state = 'live', live_since = now()"
        " WHERE projection = $1 AND build = $2",
        projection.name,
        build,
    )
    return previous


async def drop_build(conn: Connection, projection: str, build: int) -> None:
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_of(projection, build)}" CASCADE')


async def ensure_live(pool: asyncpg.Pool, projection: Projection) -> int:
    """The live build, creating the first one (empty, indexed, published) if there is none."""
    async with pool.acquire() as conn:
        await create_tables(conn, BUILDS_DDL)
        async with conn.transaction():
            # One process creates the first build; the others wait and then find it.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", projection.name)
            build = await live_build(conn, projection.name)
            if build is None:
                build = await new_build(conn, projection, with_indexes=True)
                await publish(conn, projection, build)
            return build


async def outdated(conn: Connection, projections: Iterable[Projection]) -> list[tuple[str, int]]:
    """The projections whose live build an earlier release made (its schema version is older
    than the code's): (name, the live build's schema version). Their tables are not the code's:
    ``casetrail rebuild <name>`` builds the code's beside them and switches."""
    await create_tables(conn, BUILDS_DDL)
    rows = await conn.fetch(
        "SELECT projection, schema_version FROM projection_builds WHERE state = 'live'"
    )
    live = {row["projection"]: row["schema_version"] for row in rows}
    return [
        (p.name, live[p.name]) for p in projections if p.name in live and live[p.name] < p.version
    ]
