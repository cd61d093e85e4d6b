"""Which cryptographic suite the log is of, read from its checkpoints topic
(``services.integrity.declaration``), and the declaration that fixes it, written when nothing
fixed it yet: a service set to another suite (``CASETRAIL_CRYPTO_SUITE``) must not start on the
log, since it would hash, sign and seal what no reader of the log could verify as one log."""

from contextlib import aclosing
from datetime import UTC, datetime

from aiokafka import TopicPartition

from services.adapters.kafka import offset_ranges, read_partition, send_one, topic_partitions
from services.integrity.checkpoints import Signer
from services.integrity.declaration import DECLARATION_PARTITION, LogSuite, declare, mismatch
from services.integrity.keyring import KeyRing
from services.settings import Settings


class SuiteMismatch(RuntimeError):
    """The log is of another suite than this service is set to."""


async def read_log_suite(settings: Settings, ring: KeyRing) -> LogSuite:
    """The log's suite as ``ring`` vouches for it: partition 0 of the checkpoints topic read up
    to its first declaration if that one is trusted (its first record, on a log made since
    declarations exist); otherwise every partition, for the trusted checkpoints."""
    found = LogSuite(ring)
    topic = settings.checkpoints_topic
    ranges = await offset_ranges(settings, await topic_partitions(settings, topic))
    first = TopicPartition(topic, DECLARATION_PARTITION)
    in_order = [first, *(tp for tp in ranges if tp != first)]
    for tp in in_order:
        async with aclosing(read_partition(settings, tp, ranges[tp][1])) as batches:
            async for batch in batches:
                for record in batch:
                    found.record(record.partition, record.offset, record.value or b"")
                    if found.settled:
                        return found
    return found


async def check_log_suite(settings: Settings, ring: KeyRing, who: str) -> LogSuite:
    """The log's suite; SuiteMismatch, saying what to set, when it is not ``settings``'."""
    found = await read_log_suite(settings, ring)
    problem = mismatch(found, settings.crypto_suite, who, settings.checkpoints_topic)
    if problem is not None:
        raise SuiteMismatch(problem)
    return found


async def settle_log_suite(settings: Settings, signer: Signer, who: str) -> LogSuite:
    """As ``check_log_suite``, and if no declaration fixes the log's suite yet (an empty log, or
    one written before declarations, of ``settings``' suite), declare it with ``signer``'s key
    first, then read again and obey the first declaration, whoever wrote it: of two deciders
    of different suites racing on an empty log, both read the same winner. ``settings``: of
    a Kafka user who may write the checkpoints topic (the decider's). SigningKeyNotTrusted when
    it must declare and cannot sign."""
    ring = signer.ring
    found = await read_log_suite(settings, ring)
    mine = found.suite in (None, settings.crypto_suite) and not found.mixed
    if mine and not found.trusted_declaration:
        now = datetime.now(UTC)
        declaration = declare(signer.check(now), now)
        await send_one(
            settings,
            settings.checkpoints_topic,
            DECLARATION_PARTITION,
            b"suite",
            declaration.record(),
        )
    return await check_log_suite(settings, ring, who)
