"""Which cryptographic suite the log was written under, read from its latest checkpoints: a
service set to another suite (``CASETRAIL_CRYPTO_SUITE``) must not start on it, since it would
hash, sign and seal what no reader of the log could then verify as one log."""

from pydantic import ValidationError

from events.suite import Suite
from services.adapters.kafka import committed_consumer, read_until, topic_partitions
from services.integrity.checkpoints import Checkpoint
from services.settings import Settings

LATEST = 16
"""Records read from the end of each partition of the checkpoints topic (transaction markers
take offsets too): the latest checkpoints say the log's suite."""


class SuiteMismatch(RuntimeError):
    """The log was written under another suite than this service is set to."""


async def suites_on_log(settings: Settings) -> set[Suite]:
    """The suites of the latest checkpoints of every partition (empty: a log without any)."""
    found: set[Suite] = set()
    tps = await topic_partitions(settings, settings.checkpoints_topic)
    async with committed_consumer(settings) as consumer:
        consumer.assign(tps)
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(starts[tp], ends[tp] - LATEST))
        async for batches in read_until(consumer, ends):
            for records in batches.values():
                for record in records:
                    try:
                        found.add(Checkpoint.model_validate_json(record.value or b"").log_suite)
                    except ValidationError:
                        continue  # junk vouches for nothing; verify names it
    return found


async def check_log_suite(settings: Settings, service: str) -> None:
    """SuiteMismatch, saying what to do, when the log's checkpoints are of another suite."""
    other = sorted(s.value for s in await suites_on_log(settings) - {settings.crypto_suite})
    if other:
        raise SuiteMismatch(
            f"{service}: the log {settings.checkpoints_topic} was written under the suite"
            f" {', '.join(other)}, and CASETRAIL_CRYPTO_SUITE is {settings.crypto_suite.value}."
            " A log has one suite, fixed at its first event: set CASETRAIL_CRYPTO_SUITE to the"
            " log's, or start a new log under another CASETRAIL_TOPIC_PREFIX and keep the old"
            " one as evidence (README, 'Cryptographic suites')"
        )
