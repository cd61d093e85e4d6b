"""The decider's snapshots on the real broker: a restarted decider folds only the events after
its partitions' snapshots, answers every re-sent submission as before, and a snapshot that does
not agree with the log (or that someone else wrote) is not used: the whole log is folded, and
the next snapshot replaces it."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.adapters.kafka import read_to_end
from services.bench.workload import submissions
from services.decider.snapshot import HEAD_KEY, Head
from services.infra.servers import free_port
from services.settings import KafkaRole, Settings
from tests.e2e.test_forged_tail import health
from tests.e2e.test_verify import append
from tests.support import (
    Service,
    all_outcomes,
    assert_exactly_once,
    eventually,
    own_topics,
    publish,
    submission_ids,
    whole_topic,
)

EVERY = 4


@pytest.fixture
async def own(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of their own (two partitions), a decider health port, snapshots often."""
    async with own_topics(
        servers,
        "snapshots",
        partitions=2,
        decider_health_port=free_port(),
        decider_session_timeout_ms=6000,
        decider_snapshot_every=EVERY,
    ) as settings:
        yield settings


def serving(settings: Settings) -> dict[str, Any] | None:
    """The partitions' health once the decider serves both."""
    answer = health(settings)
    if answer is None or answer[0] != 200:
        return None
    partitions = answer[1]["partitions"]
    states = {p["state"] for p in partitions.values()}
    return partitions if len(partitions) == 2 and states == {"serving"} else None


async def heads(settings: Settings) -> dict[int, Head]:
    """The latest head of each partition's snapshot (read as the admin: no auditor, no
    department, may read the decider's snapshots)."""
    found: dict[int, Head] = {}
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    tps = [TopicPartition(settings.snapshots_topic, p) for p in range(settings.partitions)]
    async for record in read_to_end(admin, tps):
        if record.key == HEAD_KEY and record.value is not None:
            found[record.partition] = Head.model_validate_json(record.value)
    return found


def fourth_steps(cases: int, tag: str) -> list[tuple[str, bytes]]:
    """The next step of each of the first ``cases`` cases of ``submissions(..., 3, tag)``."""
    return submissions(cases * 4, 4, tag)[3::4]


async def events_on(settings: Settings) -> dict[int, int]:
    counts: dict[int, int] = {}
    for partition, _, _ in await whole_topic(settings, settings.events_topic):
        counts[partition] = counts.get(partition, 0) + 1
    return counts


async def test_a_restart_folds_only_the_tail_and_answers_every_resend_as_before(
    own: Settings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    decider = Service("decider", own, tmp_path)
    decider.start()
    messages = submissions(90, 3, tag)  # 30 cases of three steps, on both partitions
    await publish(own, messages, chunks=9)
    await all_outcomes(own, submission_ids(messages), 90)
    await asyncio.to_thread(decider.stop)

    written = await heads(own)
    assert sorted(written) == [0, 1], "a snapshot of each partition"
    events = await events_on(own)
    assert all(0 < written[p].chain_count <= events[p] for p in (0, 1))

    decider.start()
    partitions = await asyncio.to_thread(eventually, lambda: serving(own), 60, "serving")
    for p in ("0", "1"):
        took_over = partitions[p]["took_over"]
        assert took_over["from_snapshot"] is True
        assert took_over["events_folded"] == events[int(p)] - written[int(p)].chain_count

    # Every submission again, and the next steps: the same answers, no event twice.
    more = fourth_steps(30, tag)
    await publish(own, [*messages, *more], chunks=3)
    figures = await assert_exactly_once(
        own, submission_ids([*messages, *more]), resent=True, seconds=90
    )
    assert figures["accepted"] == figures["events"] == 120

    # The suite's deciders keep two unchanged cases in memory: the others were read from the
    # case store when a submission named them, and the answers above are the same. Polled: the
    # outcomes are visible at the commit, the evictions follow once the case store has copied
    # the snapshot written with them.
    def evicted() -> dict[str, Any] | None:
        partitions = serving(own)
        if partitions is None:
            return None
        cases = {p: partitions[p]["cases"] for p in ("0", "1")}
        return cases if all(c["in_memory"] < c["known"] for c in cases.values()) else None

    cases = await asyncio.to_thread(eventually, evicted, 60, "cases evicted after the copy")
    assert sum(c["known"] for c in cases.values()) == 30, cases
    decider.check_alive()
    await asyncio.to_thread(decider.stop)


async def test_a_snapshot_that_disagrees_with_the_log_is_not_used(
    own: Settings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    decider = Service("decider", own, tmp_path)
    decider.start()
    messages = submissions(60, 3, tag)
    await publish(own, messages, chunks=6)
    await all_outcomes(own, submission_ids(messages), 90)
    await asyncio.to_thread(decider.stop)

    # Someone who may write the topic (only the decider's user and the admin may) puts a head
    # of their own on partition 0: its chain is not the one the checkpoints signed.
    head = (await heads(own))[0]
    forged = head.model_copy(update={"chain_head": "0" * 64}).model_dump(mode="json")
    await append(own, own.snapshots_topic, [forged], partition=0, key=HEAD_KEY)

    decider.start()
    partitions = await asyncio.to_thread(eventually, lambda: serving(own), 60, "serving")
    events = await events_on(own)
    assert partitions["0"]["took_over"] == {"from_snapshot": False, "events_folded": events[0]}
    assert partitions["1"]["took_over"]["from_snapshot"] is True
    log = decider.log.read_text()
    assert "partition 0: its snapshot is not used (no checkpoint signed" in log

    # Decided as before; the first batch writes a snapshot that the next take-over uses.
    more = fourth_steps(20, tag)
    await publish(own, [*messages, *more], chunks=2)
    await assert_exactly_once(own, submission_ids([*messages, *more]), resent=True, seconds=90)
    await asyncio.to_thread(decider.stop)
    decider.start()
    partitions = await asyncio.to_thread(eventually, lambda: serving(own), 60, "serving")
    assert partitions["0"]["took_over"]["from_snapshot"] is True
    decider.check_alive()
    await asyncio.to_thread(decider.stop)
