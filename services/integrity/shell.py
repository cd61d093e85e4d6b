"""The I/O shell of verification: reads Kafka and PostgreSQL and hands what it read to the pure
``verification.verify`` (``verify_system``, behind ``casetrail verify``); and an operator's
adoption of events no decider wrote (``accept_events``, behind ``casetrail checkpoints accept``).
"""

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from projections import builds
from projections.db import connect, fetch_dicts
from projections.read_models.audit_trail import COLUMNS, JSON_COLUMNS, AuditTrail
from services.adapters.kafka import TopologyError, client_options, read_to_end, topic_partitions
from services.integrity.audit_pairing import LogIndex
from services.integrity.checkpoints import Checkpoint, Signer, SigningKeyNotTrusted
from services.integrity.keyring import KeyRingError, load_ring
from services.integrity.log_check import adoption
from services.integrity.problems import Record
from services.integrity.verification import Verification, verify
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


async def read_audit_trail(
    conn: asyncpg.Connection, events: Sequence[Record], case: str | None
) -> list[dict[str, Any]]:
    """The rows of ``audit_trail`` (with a case: those that say they are the case's, or claim
    one of its events or places on the log)."""
    columns = ", ".join(f"{c}::text AS {c}" if c in JSON_COLUMNS else c for c in COLUMNS)
    if case is None:
        return await fetch_dicts(conn, f"SELECT {columns} FROM audit_trail")
    mine = LogIndex(events, case).in_scope
    return await fetch_dicts(
        conn,
        f"SELECT {columns} FROM audit_trail WHERE case_id = $1 OR event_id = ANY($2::uuid[])"
        " OR (log_partition, log_offset) IN"
        " (SELECT * FROM unnest($3::integer[], $4::bigint[]))",
        case,
        [uuid.UUID(e.fields["event_id"]) for e in mine],
        [e.partition for e in mine],
        [e.offset for e in mine],
    )


async def verify_system(
    settings: Settings, case: str | None = None, audit_trail: bool = True
) -> Verification:
    """Read the log (events, checkpoints and outcomes topics) and the audit trail, and verify
    them.

    The audit trail is read in one REPEATABLE READ snapshot taken before the log is read, so
    that every row and the projection's progress come from one moment and every event they
    refer to is already on the log when it is read. Raises ``CannotVerify``."""
    settings = settings.as_kafka_user(KafkaRole.AUDITOR)  # unless a user is configured
    try:
        # The pinned ring only: never a key beside the private key, never one the log names.
        ring = load_ring(settings.key_ring_path)
    except KeyRingError as error:
        raise CannotVerify(f"no key ring to check the checkpoints with: {error}") from error
    rows: list[dict[str, Any]] | None = None
    projected: dict[int, int] = {}
    if not audit_trail:
        events = await read_topic(settings, settings.events_topic)
        checkpoints = await read_topic(settings, settings.checkpoints_topic)
        outcomes = await read_topic(settings, settings.outcomes_topic)
    else:
        url = urlsplit(settings.postgres_dsn)  # named without its password
        database = f"PostgreSQL at {url.hostname}:{url.port or 5432}{url.path}"
        # read_topic raises CannotVerify naming Kafka, which passes through unchanged.
        with _talking_to(database):
            async with connect(settings.postgres_dsn, connect_timeout=10) as conn:
                snapshot = conn.transaction(isolation="repeatable_read", readonly=True)
                await snapshot.start()
                projected = await audit_trail_progress(conn, settings.events_topic)
                events = await read_topic(settings, settings.events_topic)
                checkpoints = await read_topic(settings, settings.checkpoints_topic)
                outcomes = await read_topic(settings, settings.outcomes_topic)
                rows = await read_audit_trail(conn, events, case)
                await snapshot.rollback()
    # The events are read before the checkpoints: the checkpoint of an event's transaction is
    # on the log by then (the grace period covers commit markers still on their way).
    now, grace = datetime.now(UTC), timedelta(seconds=settings.verify_grace_s)
    result = verify(
        events, checkpoints, ring, rows, projected, case, outcomes, now=now, grace=grace
    )
    if case is not None and result.intact and not result.events and not result.audit_rows:
        raise CannotVerify(f"no case {case} on the log or in the audit trail")
    return result


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
    signer = Signer(settings.signing_key_path, settings.key_ring_path)
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
    audit, why = adoption(partition, events, checkpoints, signer.ring, through, now)
    if why:
        raise CannotAccept(why)
    adopted = audit.count - (audit.latest.count if audit.latest else 0)
    checkpoint = signer.sign(partition, through, audit.count, audit.head, now, reason)
    bootstrap = settings.kafka_bootstrap
    with _talking_to(f"Kafka at {bootstrap}"):
        producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            await producer.send_and_wait(
                settings.checkpoints_topic,
                checkpoint.record(),
                key=str(partition).encode(),
                partition=partition,
            )
        finally:
            await producer.stop()
    return checkpoint, adopted
