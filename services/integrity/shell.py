"""The I/O shell of verification: streams Kafka and PostgreSQL through the checks of
``verification`` (``verify_system``, behind ``casetrail verify``); and an operator's adoption of
events no decider wrote (``accept_events``, behind ``casetrail checkpoints accept``).
"""

import uuid
from collections import deque
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import aclosing, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from projections import builds
from projections.db import connect, fetch_dicts
from projections.read_models.audit_trail import COLUMNS, JSON_COLUMNS, AuditTrail
from services.adapters.kafka import (
    TopologyError,
    offset_ranges,
    read_offsets,
    read_partition,
    read_to_end,
    send_one,
    topic_partitions,
)
from services.integrity.audit_pairing import Logged, Position, event_id, logged, row_position
from services.integrity.checkpoints import Checkpoint, Signer, SigningKeyNotTrusted
from services.integrity.id_book import IdBook
from services.integrity.keyring import KeyRing, KeyRingError, load_ring
from services.integrity.log_check import adoption
from services.integrity.log_suite import read_log_suite
from services.integrity.problems import Record
from services.integrity.verification import Verification, VerificationPass, wrong_suite
from services.progress import Progress, Say, quiet
from services.settings import KafkaRole, Settings


class CannotVerify(RuntimeError):
    """Verification could not run: a server does not answer, a topic, table or the key ring is
    missing."""


@contextmanager
def _talking_to(what: str) -> Iterator[None]:
    try:
        yield
    except CannotVerify:
        raise
    except asyncpg.UndefinedTableError as error:
        raise CannotVerify(
            f"{what}: {error} (has the projector run? --log-only checks the log alone)"
        ) from error
    except (KafkaError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        text = str(e)
        if not text.startswith(type(e).__name__):
            text = f"{type(e).__name__}: {text}"
        raise CannotVerify(f"{what}: {text}") from e


async def audit_trail_progress(conn: asyncpg.Connection, topic: str) -> dict[int, int]:
    """How far the audit-trail projection has applied each partition of ``topic``: the next
    offset it will apply. The one place that knows where the projector keeps its progress
    (today: the ``projection_checkpoint`` table in the live build's schema)."""
    if await conn.fetchval("SELECT to_regclass('projection_builds')") is None:
        return {}  # no projection has ever run: nothing is due in the audit trail yet
    return await builds.live_offsets(conn, AuditTrail.name, topic)


async def read_topic(settings: Settings, topic: str) -> list[Record]:
    """Every committed record of every partition of ``topic``, in offset order per partition."""
    bootstrap = settings.kafka_bootstrap
    with _talking_to(f"Kafka at {bootstrap}"):
        try:
            partitions = await topic_partitions(settings, topic)
        except TopologyError as error:
            # Not the adapter's message: its advice to run 'casetrail infra up' would create an
            # empty topic where a log of record has gone missing.
            raise CannotVerify(f"topic {topic} does not exist on {bootstrap}") from error
        records = [
            (record.partition, record.offset, record.value or b"")
            async for record in read_to_end(settings, partitions)
        ]
    # read_to_end interleaves the partitions' batches.
    return sorted(records, key=lambda r: (r[0], r[1]))


ROW_COLUMNS = ", ".join(f"{c}::text AS {c}" if c in JSON_COLUMNS else c for c in COLUMNS)
ROWS_AT_ONCE = 2_000
"""Audit rows fetched per round trip of the server-side cursor."""


async def shared_row_ids(conn: asyncpg.Connection) -> set[uuid.UUID]:
    """The event ids that more than one audit row holds (none while event_id is the table's
    key: then PostgreSQL reads its index, in order, and keeps nothing)."""
    rows = await conn.fetch(
        "SELECT event_id FROM audit_trail GROUP BY event_id HAVING count(*) > 1"
    )
    return {uuid.UUID(str(row["event_id"])) for row in rows}


class RowFeed:
    """Every audit row in log order (the place it names), read through a server-side cursor
    in the caller's transaction, ``ROWS_AT_ONCE`` at a time: never the whole table."""

    def __init__(self, conn: asyncpg.Connection, database: str):
        self.conn, self.database = conn, database
        self._cursor: Any = None
        self._buffer: deque[dict[str, Any]] = deque()
        self._done = False

    async def _more(self) -> None:
        with _talking_to(self.database):
            if self._cursor is None:
                self._cursor = await self.conn.cursor(
                    f"SELECT {ROW_COLUMNS} FROM audit_trail ORDER BY log_partition, log_offset"
                )
            chunk = await self._cursor.fetch(ROWS_AT_ONCE)
        self._buffer.extend(dict(row) for row in chunk)
        self._done = len(chunk) < ROWS_AT_ONCE

    async def until(self, position: Position | None) -> list[dict[str, Any]]:
        """The next rows naming places up to ``position`` (None: all the rest)."""
        while not self._done and (
            not self._buffer or position is None or row_position(self._buffer[-1]) <= position
        ):
            await self._more()
        out = []
        while self._buffer and (position is None or row_position(self._buffer[0]) <= position):
            out.append(self._buffer.popleft())
        return out


async def rows_of_case(
    conn: asyncpg.Connection, case: str, events: Sequence[Logged]
) -> list[dict[str, Any]]:
    """The rows of ``audit_trail`` in the case's scope: those that say they are the case's, or
    claim one of its (logged) events or their places on the log."""
    return await fetch_dicts(
        conn,
        f"SELECT {ROW_COLUMNS} FROM audit_trail WHERE case_id = $1 OR event_id = ANY($2::uuid[])"
        " OR (log_partition, log_offset) IN"
        " (SELECT * FROM unnest($3::integer[], $4::bigint[]))",
        case,
        [event_id(e) for e in events],
        [e.partition for e in events],
        [e.offset for e in events],
    )


async def _partitions_of(settings: Settings, topic: str) -> list[TopicPartition]:
    try:
        return await topic_partitions(settings, topic)
    except TopologyError as error:
        # Not the adapter's message: its advice to run 'casetrail infra up' would create an
        # empty topic where a log of record has gone missing.
        raise CannotVerify(f"topic {topic} does not exist on {settings.kafka_bootstrap}") from error


async def _records(
    settings: Settings, topic: str, ranges: dict[TopicPartition, tuple[int, int]] | None = None
) -> AsyncGenerator[list[Record]]:
    """The committed records of ``topic`` partition after partition, in offset order, a batch
    at a time; up to the ends in ``ranges`` if given (else as they are now)."""
    with _talking_to(f"Kafka at {settings.kafka_bootstrap}"):
        if ranges is None:
            ranges = await offset_ranges(settings, await _partitions_of(settings, topic))
        for tp, (_, end) in ranges.items():
            async for batch in read_partition(settings, tp, end):
                yield [(r.partition, r.offset, r.value or b"") for r in batch]


async def verify_system(
    settings: Settings, case: str | None = None, audit_trail: bool = True, say: Say = quiet
) -> Verification:
    """Read the log (events, checkpoints and outcomes topics) and the audit trail, and verify
    them, in one pass over each: in bounded memory whatever the log's length (per case, its
    chain's head; the event ids on disk, ``IdBook``), saying how far it got on ``say``.

    The audit trail is read in one REPEATABLE READ snapshot taken before the log is read, so
    that every row and the projection's progress come from one moment and every event they
    refer to is already on the log when it is read. Raises ``CannotVerify``."""
    settings = settings.as_kafka_user(KafkaRole.AUDITOR)  # unless a user is configured
    try:
        # The pinned ring only: never a key beside the private key, never one the log names.
        ring = load_ring(settings.key_ring_path)
    except KeyRingError as error:
        raise CannotVerify(f"no key ring to check the checkpoints with: {error}") from error
    if not audit_trail:
        return await _verify(settings, ring, case, None, say)
    url = urlsplit(settings.postgres_dsn)  # named without its password
    database = f"PostgreSQL at {url.hostname}:{url.port or 5432}{url.path}"
    # Kafka's errors raise CannotVerify naming Kafka, which passes through unchanged.
    with _talking_to(database):
        async with connect(settings.postgres_dsn, connect_timeout=10) as conn:
            snapshot = conn.transaction(isolation="repeatable_read", readonly=True)
            await snapshot.start()
            try:
                return await _verify(settings, ring, case, (conn, database), say)
            finally:
                await snapshot.rollback()


async def _verify(
    settings: Settings,
    ring: KeyRing,
    case: str | None,
    trail: tuple[asyncpg.Connection, str] | None,
    say: Say,
) -> Verification:
    projected: dict[int, int] | None = None
    shared: set[uuid.UUID] = set()
    if trail is not None:
        conn, database = trail
        with _talking_to(database):
            projected = await audit_trail_progress(conn, settings.events_topic)
            shared = await shared_row_ids(conn) if case is None else set()
    with _talking_to(f"Kafka at {settings.kafka_bootstrap}"):
        # Where the events end is fixed before the checkpoints are read: the checkpoint of an
        # event's transaction is on the log by then (the grace period covers commit markers
        # still on their way).
        ranges = await offset_ranges(
            settings, await _partitions_of(settings, settings.events_topic)
        )
        # The log's suite first: under another suite's hash every event would look altered.
        await _partitions_of(settings, settings.checkpoints_topic)  # CannotVerify if missing
        found = await read_log_suite(settings, ring)
    other = wrong_suite(case, found, settings.crypto_suite, settings.checkpoints_topic)
    if other is not None:
        return other
    with IdBook() as ids:
        run = VerificationPass(ring, ids, case, projected, shared, suite=settings.crypto_suite)
        async with aclosing(_records(settings, settings.checkpoints_topic)) as checkpoints:
            async for batch in checkpoints:
                for record in batch:
                    run.checkpoint(record)
        async with aclosing(_records(settings, settings.outcomes_topic)) as outcomes:
            async for batch in outcomes:
                for record in batch:
                    run.outcome(record)
        feed = RowFeed(*trail) if trail is not None and case is None else None
        # Progress in offsets (transaction markers take some too): how many events there are
        # is known only once they are read.
        before, total = {}, 0
        for tp, (start, end) in ranges.items():
            before[tp.partition], total = total - start, total + end - start
        progress = Progress(total, say, "offsets of the log")
        async with aclosing(_records(settings, settings.events_topic, ranges)) as events:
            async for batch in events:
                partition, offset, _ = batch[-1]
                run.events(batch, await feed.until((partition, offset)) if feed else ())
                progress.set(before[partition] + offset + 1)
        if progress.done < total:  # the end offset is a transaction marker's, or nothing is read
            progress.set(total)
        if feed is not None:
            run.end(await feed.until(None))
        elif trail is not None and case is not None:
            conn, database = trail
            with _talking_to(database):
                run.rows_of_case(await rows_of_case(conn, case, run.of_case))
        first, places = run.wanted_places()
        fetched = await _logged_at(settings, places, ranges)
    now, grace = datetime.now(UTC), timedelta(seconds=settings.verify_grace_s)
    result = run.finish(first, fetched, now, grace)
    if case is not None and result.intact and not result.events and not result.audit_rows:
        raise CannotVerify(f"no case {case} on the log or in the audit trail")
    return result


async def _logged_at(
    settings: Settings, places: set[Position], ranges: dict[TopicPartition, tuple[int, int]]
) -> dict[Position, Logged]:
    """The logged events at ``places`` (those the projector can read), read again: only rows
    out of place need them, so on an intact audit trail there are none."""
    found: dict[Position, Logged] = {}
    with _talking_to(f"Kafka at {settings.kafka_bootstrap}"):
        for tp, (_, end) in ranges.items():
            offsets = [o for p, o in places if p == tp.partition]
            for offset, raw in (await read_offsets(settings, tp, offsets, end)).items():
                event = logged(tp.partition, offset, raw)
                if event is not None:
                    found[event.position] = event
    return found


class CannotAccept(RuntimeError):
    """The events must not be adopted; ``reasons`` says why, one line each."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


async def accept_events(
    settings: Settings, partition: int, through: int, reason: str
) -> tuple[Checkpoint, int]:
    """Sign, with the decider's key, a checkpoint over ``partition``'s events through offset
    ``through`` that says an operator adopted them and why; append it to the partition's
    checkpoints. Returns it, and how many events it adopted. Raises CannotAccept when the
    events must not be adopted, CannotVerify when it cannot be done.

    No fencing is needed: checkpoints vouch for a prefix of an append-only partition, so one
    signed here holds whatever a decider appends meanwhile (the latest one counts)."""
    # Only the decider writes checkpoints: this runs where its key is, as its Kafka user.
    settings = settings.as_kafka_user(KafkaRole.DECIDER)
    signer = Signer(settings.signing_key_path, settings.key_ring_path, settings.crypto_suite)
    try:
        signer.check(datetime.now(UTC))
    except SigningKeyNotTrusted as error:
        raise CannotVerify(f"cannot sign: {error}") from error
    events = [
        (offset, raw)
        for p, offset, raw in await read_topic(settings, settings.events_topic)
        if p == partition
    ]
    checkpoints = []
    for p, _, raw in await read_topic(settings, settings.checkpoints_topic):
        if p == partition:
            try:
                checkpoints.append(Checkpoint.model_validate_json(raw))
            except ValidationError:
                continue  # junk vouches for nothing; verify names it
    now = datetime.now(UTC)
    audit, why = adoption(
        partition, events, checkpoints, signer.ring, through, now, settings.crypto_suite
    )
    if why:
        raise CannotAccept(why)
    adopted = audit.count - (audit.latest.count if audit.latest else 0)
    checkpoint = signer.sign(partition, through, audit.count, audit.head, now, reason)
    bootstrap = settings.kafka_bootstrap
    with _talking_to(f"Kafka at {bootstrap}"):
        key = str(partition).encode()
        await send_one(settings, settings.checkpoints_topic, partition, key, checkpoint.record())
    return checkpoint, adopted
