"""The signed checkpoint that vouches for a case, for its case file.

The decider signs a checkpoint over its partition's chain head in the transaction of every
write that appends events (``services.integrity.checkpoints``): the first checkpoint of the
case's partition whose offset reaches the case's last event covers every event of the case. It
is looked up on the checkpoints topic (the query user may read it), starting from just before
the event was recorded (the checkpoint's record is stamped when the decider sends it, after
that), and checked against the pinned key ring, as ``casetrail verify`` checks them.

A case file is still made when Kafka does not answer in time, or no trusted checkpoint is
found: it then says so, and why, instead of vouching.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.adapters.kafka import client_options, read_until, started
from services.integrity.checkpoints import Checkpoint
from services.integrity.keyring import KeyRingError, load_ring
from services.integrity.log_check import untrusted
from services.integrity.verification import read_checkpoint
from services.settings import Settings

log = logging.getLogger("casetrail.query")

CLOCK_SKEW = timedelta(minutes=2)
"""How far before the event's recorded_at the search starts: the decider's clock and the
broker's (which stamps a record when the topic keeps append times) may differ a little."""
MAX_SCANNED = 20_000
"""Checkpoints read at most for one case file: one per transaction, so far more than the
transactions of the minutes after an event."""


@dataclass(frozen=True)
class Vouching:
    partition: int
    offset: int
    """Where the case's last event is on the events topic."""
    checkpoint: Checkpoint | None
    """The first trusted checkpoint that covers it; None if none could be read."""
    problem: str | None = None
    """Why there is none."""


async def _search(
    settings: Settings, partition: int, offset: int, recorded_at: datetime
) -> Vouching:
    try:
        ring = load_ring(settings.key_ring_path)
    except KeyRingError as error:
        return Vouching(partition, offset, None, f"无法读取密钥环 / no key ring: {error}")
    tp = TopicPartition(settings.checkpoints_topic, partition)
    consumer = await started(
        AIOKafkaConsumer(
            **client_options(settings),
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )
    )
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        since = int((recorded_at - CLOCK_SKEW).timestamp() * 1000)
        found = (await consumer.offsets_for_times({tp: since}))[tp]
        if found is None:
            return Vouching(
                partition, offset, None, "没有覆盖此事件的检查点 / no checkpoint after it"
            )
        consumer.seek(tp, found.offset)
        scanned = 0
        async for batches in read_until(consumer, {tp: end}):
            for record in (r for records in batches.values() for r in records):
                scanned += 1
                checkpoint = read_checkpoint(partition, record.offset, record.value or b"")
                if (
                    isinstance(checkpoint, Checkpoint)
                    and checkpoint.partition == partition
                    and checkpoint.offset >= offset
                    and untrusted(checkpoint, ring, settings.crypto_suite) is None
                ):
                    return Vouching(partition, offset, checkpoint)
            if scanned >= MAX_SCANNED:
                break
        return Vouching(
            partition,
            offset,
            None,
            "未找到覆盖此事件的可信签名检查点（请运行 casetrail verify）/ no trusted checkpoint"
            " covers it (run casetrail verify)",
        )
    finally:
        await consumer.stop()


async def vouching(
    settings: Settings, partition: int, offset: int, recorded_at: datetime
) -> Vouching:
    """The trusted checkpoint that covers the event at ``partition``@``offset`` (recorded at
    ``recorded_at``), or why none is named (within ``checkpoint_lookup_s``)."""
    try:
        return await asyncio.wait_for(
            _search(settings, partition, offset, recorded_at), settings.checkpoint_lookup_s
        )
    except TimeoutError:
        problem = "Kafka 未及时应答 / Kafka did not answer in time"
    except Exception as error:  # Kafka refused or failed: the file says so, it is still made
        log.warning("query: no checkpoint for p%d@%d: %r", partition, offset, error)
        problem = f"无法读取检查点 / cannot read the checkpoints: {type(error).__name__}"
    return Vouching(partition, offset, None, problem)
