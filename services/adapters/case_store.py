"""The decider's case store: a copy, in PostgreSQL, of the committed records of its snapshots
(``services.decider.snapshot``, whose layout it is told: the head's key, and how to read the
submission_ids in a chunk of outcomes),
so that a partition's decider keeps only its hot cases in memory and reads the others when a
submission names them.

The snapshots topic (``services.decider.snapshot``) stays what a snapshot is: written in the
transaction of its batch and checked against the signed checkpoints by every take-over. This
store only copies what is committed there, in offset order, key by key (a tombstone deletes),
and remembers how far it has copied. So:

- it never holds a record of an aborted transaction (it reads the topic read_committed);
- a copy that fell behind (a crash after a commit, PostgreSQL down for a while) catches up from
  the topic at the next snapshot or take-over, and the decider evicts no case until it has;
- two deciders copying the same records (a fenced one still finishing) write the same values,
  and a record never replaces a later one of its key (``at``, its offset, only grows).

Each copied outcome's submission_id is indexed to its case, so that a submission_id answered
long ago is recognised whatever case it names now, as if every outcome were in memory.

Schema ``decider`` belongs to role ``casetrail_decider``, which no other service is given.
"""

import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiokafka import TopicPartition

from projections.db import connect, create_pool, create_tables
from services.adapters.kafka import offset_ranges, read_to_end
from services.adapters.private_schema import ensure_private_schema, role_dsn
from services.settings import Settings

ROLE = "casetrail_decider"
SCHEMA = "decider"
COPY_BATCH = 5_000
"""Snapshot records copied per PostgreSQL transaction."""

DDL = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.snapshot_records (
    topic     text NOT NULL,
    partition integer NOT NULL,
    key       bytea NOT NULL,
    case_id   text NOT NULL,
    kind      char NOT NULL,
    at        bigint NOT NULL,
    value     bytea NOT NULL,
    PRIMARY KEY (topic, partition, key)
);
CREATE INDEX IF NOT EXISTS snapshot_records_case ON {SCHEMA}.snapshot_records
    (topic, partition, case_id);
CREATE TABLE IF NOT EXISTS {SCHEMA}.submissions (
    topic         text NOT NULL,
    partition     integer NOT NULL,
    submission_id uuid NOT NULL,
    case_id       text NOT NULL,
    PRIMARY KEY (topic, partition, submission_id)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.copies (
    topic     text NOT NULL,
    partition integer NOT NULL,
    copied_to bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""

HEAD, CASE, CHUNK = "h", "c", "o"
"""What a record is (``kind``): the head, a case's record, or a chunk of its outcomes."""


@dataclass(frozen=True)
class StoredHead:
    """The head's record as the copy holds it (None: none), and how many case records the
    copy holds beside it."""

    value: bytes | None
    cases: int


@dataclass(frozen=True)
class Layout:
    """What the store must know of the snapshot records it copies."""

    head_key: bytes
    submissions: Callable[[bytes], list[tuple[uuid.UUID, str]]]
    """The (submission_id, case_id) of the outcomes in a chunk's value."""

    def kind_and_case(self, key: bytes) -> tuple[str, str]:
        if key == self.head_key:
            return HEAD, ""
        text = key.decode(errors="replace")
        if "/" in text:
            return CHUNK, text.rsplit("/", 1)[0]
        return CASE, text


class PgCaseStore:
    def __init__(self, pool: asyncpg.Pool, topic: str, layout: Layout):
        self.pool = pool
        self.topic = topic
        self.layout = layout

    async def catch_up(self, settings: Settings, partition: int) -> int:
        """Copy the partition's snapshot records committed since the last copy; how many."""
        tp = TopicPartition(self.topic, partition)
        async with self.pool.acquire() as conn:
            copied_to = await conn.fetchval(
                f"SELECT copied_to FROM {SCHEMA}.copies WHERE topic = $1 AND partition = $2",
                self.topic,
                partition,
            )
        ((_, end),) = (await offset_ranges(settings, [tp])).values()
        if copied_to is not None and copied_to > end:
            # A topic made again under the same name: what was copied is another log's.
            await self.forget(partition)
            copied_to = 0
        copied = 0
        batch: list[tuple[bytes, bytes | None, int]] = []
        async for record in read_to_end(settings, [tp], {tp: copied_to or 0}):
            if record.key is None:
                continue  # no key, no record of a snapshot: compaction would drop it too
            batch.append((record.key, record.value, record.offset))
            if len(batch) >= COPY_BATCH:
                copied += await self._copy(partition, batch)
                batch = []
        if batch:
            copied += await self._copy(partition, batch)
        return copied

    async def _copy(self, partition: int, records: list[tuple[bytes, bytes | None, int]]) -> int:
        """One transaction: the latest record of each key in ``records`` (offset order), and
        how far the copy now goes."""
        latest: dict[bytes, tuple[bytes | None, int]] = {}
        for key, value, offset in records:
            latest[key] = (value, offset)
        kept = [(k, v, at) for k, (v, at) in latest.items() if v is not None]
        deleted = [(k, at) for k, (v, at) in latest.items() if v is None]
        kinds = [self.layout.kind_and_case(k) for k, _, _ in kept]
        chunks = [v for (kind, _), (_, v, _) in zip(kinds, kept, strict=True) if kind == CHUNK]
        indexed = [pair for v in chunks for pair in self.layout.submissions(v)]
        topic = self.topic
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {SCHEMA}.snapshot_records AS r"
                " SELECT $1, $2, k, c, t, a, v"
                " FROM unnest($3::bytea[], $4::text[], $5::char[], $6::bigint[], $7::bytea[])"
                " AS u(k, c, t, a, v)"
                " ON CONFLICT (topic, partition, key) DO UPDATE SET value = excluded.value,"
                " at = excluded.at, case_id = excluded.case_id, kind = excluded.kind"
                " WHERE r.at < excluded.at",
                topic,
                partition,
                [k for k, _, _ in kept],
                [case for _, case in kinds],
                [kind for kind, _ in kinds],
                [at for _, _, at in kept],
                [v for _, v, _ in kept],
            )
            await conn.execute(
                f"DELETE FROM {SCHEMA}.snapshot_records AS r USING unnest($3::bytea[],"
                " $4::bigint[]) AS u(k, a) WHERE r.topic = $1 AND r.partition = $2"
                " AND r.key = u.k AND r.at < u.a",
                topic,
                partition,
                [k for k, _ in deleted],
                [at for _, at in deleted],
            )
            await conn.execute(
                f"INSERT INTO {SCHEMA}.submissions SELECT $1, $2, s, c"
                " FROM unnest($3::uuid[], $4::text[]) AS u(s, c) ON CONFLICT DO NOTHING",
                topic,
                partition,
                [s for s, _ in indexed],
                [c for _, c in indexed],
            )
            await conn.execute(
                f"INSERT INTO {SCHEMA}.copies AS c VALUES ($1, $2, $3)"
                " ON CONFLICT (topic, partition) DO UPDATE"
                " SET copied_to = greatest(c.copied_to, excluded.copied_to)",
                topic,
                partition,
                records[-1][2] + 1,
            )
        return len(records)

    async def forget(self, partition: int) -> None:
        """Drop the partition's copy: the next catch-up copies the topic from its beginning."""
        async with self.pool.acquire() as conn, conn.transaction():
            for table in ("snapshot_records", "submissions", "copies"):
                await conn.execute(
                    f"DELETE FROM {SCHEMA}.{table} WHERE topic = $1 AND partition = $2",
                    self.topic,
                    partition,
                )

    async def head(self, partition: int) -> StoredHead:
        """The head the copy holds and how many case records it holds."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT (SELECT value FROM {SCHEMA}.snapshot_records WHERE topic = $1"
                " AND partition = $2 AND kind = 'h') AS head,"
                f" (SELECT count(*) FROM {SCHEMA}.snapshot_records WHERE topic = $1"
                " AND partition = $2 AND kind = 'c') AS cases",
                self.topic,
                partition,
            )
        assert row is not None  # two scalar subqueries: one row
        return StoredHead(row["head"], row["cases"])

    async def cases(
        self, partition: int, case_ids: Collection[str], submission_ids: Collection[uuid.UUID]
    ) -> list[tuple[bytes, bytes]]:
        """The records (key, value, in offset order) of the cases named and of the cases of
        the submissions named, as far as the copy holds them (a case it does not hold is new)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT key, value FROM {SCHEMA}.snapshot_records WHERE topic = $1"
                " AND partition = $2 AND kind <> 'h' AND case_id = ANY($3::text[] || ARRAY("
                f"SELECT case_id FROM {SCHEMA}.submissions WHERE topic = $1 AND partition = $2"
                " AND submission_id = ANY($4::uuid[]))) ORDER BY at",
                self.topic,
                partition,
                list(case_ids),
                list(submission_ids),
            )
        return [(bytes(row["key"]), bytes(row["value"])) for row in rows]

    async def keys(self, partition: int) -> Sequence[bytes]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT key FROM {SCHEMA}.snapshot_records WHERE topic = $1 AND partition = $2",
                self.topic,
                partition,
            )
        return [bytes(row["key"]) for row in rows]


def case_store_dsn(settings: Settings) -> str:
    """The case store's DSN: the setting, or the read models' server as ``casetrail_decider``."""
    if settings.decider_store_dsn is not None:
        return settings.decider_store_dsn
    path = settings.decider_store_password_path
    return role_dsn(settings, ROLE, path, "CASETRAIL_DECIDER_STORE_DSN")


@asynccontextmanager
async def open_case_store(settings: Settings, layout: Layout) -> AsyncIterator[PgCaseStore]:
    pool = await create_pool(case_store_dsn(settings), max_size=2, lazy=True, connect_timeout=10)
    try:
        yield PgCaseStore(pool, settings.snapshots_topic, layout)
    finally:
        await pool.close()


async def ensure_case_store(settings: Settings) -> str:
    """Development set-up ('casetrail infra up'): the role, its schema and tables (with
    CASETRAIL_DECIDER_STORE_DSN set: only the tables)."""
    if settings.decider_store_dsn is None:
        path, setting = settings.decider_store_password_path, "CASETRAIL_DECIDER_STORE_DSN"
        await ensure_private_schema(settings, ROLE, SCHEMA, path, setting)
    async with connect(case_store_dsn(settings)) as conn:
        await create_tables(conn, DDL)
    return f"case store: schema {SCHEMA} (role {ROLE}) ready"
