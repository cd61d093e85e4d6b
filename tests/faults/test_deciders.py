"""The decider's guarantees on the real broker: nothing lost, nothing doubled, whatever happens
to the decider processes: SIGKILLed at random, two and three of them joining and leaving
mid-stream, one stalled and fenced (DESIGN.md, guarantees 1, 2 and 5)."""

import asyncio
import random
import uuid
from pathlib import Path

from services.adapters.kafka import partitioner
from services.bench.workload import submissions
from services.settings import Settings
from tests.support import (
    Service,
    assert_exactly_once,
    crc32_partitioner,
    publish,
    submission_ids,
)


async def assert_all_accepted_once(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    figures = await assert_exactly_once(settings, submission_ids(messages))
    assert figures["accepted"] == len(messages), "every submission of these cases is legal"


async def test_decider_killed_at_random_moments_loses_and_doubles_nothing(
    log: Settings, tmp_path: Path
) -> None:
    """Published as a librdkafka client does by default (CRC32): most submissions are forwarded
    to their case's partition, in transactions the kills cut at any point."""
    messages = submissions(5000, 10, uuid.uuid4().hex[:6])  # 500 cases, 10 steps each
    decider = Service("decider", log, tmp_path)
    decider.start()
    chaos = random.Random(2020)
    crc32, home = crc32_partitioner(log), partitioner(log.partitions)
    assert len({case for case, _ in messages if crc32(case) != home(case)}) > 250
    publishing = asyncio.create_task(publish(log, messages, chunks=40, partition_of=crc32))
    kills = 0
    while not publishing.done() or kills < 3:
        await asyncio.sleep(chaos.uniform(0.3, 3.0))
        await asyncio.to_thread(decider.stop, True)  # SIGKILL: no goodbye to the group
        decider.start()
        kills += 1
        if kills >= 6:
            break
    await publishing
    try:
        await assert_all_accepted_once(log, messages)
    finally:
        decider.check_alive()
        await asyncio.to_thread(decider.stop)
    assert kills >= 3


async def test_two_deciders_and_a_rebalance_mid_stream(log: Settings, tmp_path: Path) -> None:
    messages = submissions(3000, 6, uuid.uuid4().hex[:6])
    first, second = Service("decider", log, tmp_path), Service("decider", log, tmp_path)
    first.start()
    publishing = asyncio.create_task(publish(log, messages, chunks=30))
    await asyncio.sleep(2)
    second.start()  # a rebalance: partitions move to the newcomer
    await asyncio.sleep(5)
    first.check_alive()
    await asyncio.to_thread(first.stop)  # and back, as the first leaves
    await publishing
    try:
        await assert_all_accepted_once(log, messages)
    finally:
        second.check_alive()
        await asyncio.to_thread(second.stop)


async def test_three_deciders_joining_and_leaving_mid_stream(log: Settings, tmp_path: Path) -> None:
    """Every membership change is a rebalance: partitions move while batches are in flight,
    and forwards between deciders with them (published with CRC32, as librdkafka does)."""
    messages = submissions(4000, 8, uuid.uuid4().hex[:6])
    deciders = [Service("decider", log, tmp_path / f"decider-{n}") for n in range(3)]
    for decider in deciders:
        decider.log.parent.mkdir()
    first, second, third = deciders
    first.start()
    crc32 = crc32_partitioner(log)
    publishing = asyncio.create_task(publish(log, messages, chunks=40, partition_of=crc32))
    for service, change in (
        (second, second.start),
        (third, third.start),
        (first, first.stop),
        (first, first.start),
        (second, second.stop),
        (third, third.stop),
    ):
        await asyncio.sleep(2.5)
        service.check_alive()  # a decider that died on its own would have left quietly
        await asyncio.to_thread(change)
    await publishing
    try:
        await assert_all_accepted_once(log, messages)
    finally:
        for decider in deciders:
            decider.check_alive()
            await asyncio.to_thread(decider.stop)


async def test_a_stalled_decider_is_fenced_when_it_wakes_up(log: Settings, tmp_path: Path) -> None:
    """A decider that stops answering (SIGSTOP) loses its partitions; its successor's
    transactional ids fence it, so whatever it tries to write after waking is never visible."""
    messages = submissions(2000, 5, uuid.uuid4().hex[:6])
    zombie, successor = Service("decider", log, tmp_path), Service("decider", log, tmp_path)
    zombie.start()
    publishing = asyncio.create_task(publish(log, messages, chunks=20))
    await asyncio.sleep(2)
    zombie.pause()  # mid-stream, possibly inside a transaction
    successor.start()
    await asyncio.sleep(10)  # past the session timeout: the group moves on without it
    zombie.resume()
    await publishing
    try:
        await assert_all_accepted_once(log, messages)
    finally:
        successor.check_alive()
        zombie.check_alive()  # woken and fenced, it carries on as a member like any other
        await asyncio.to_thread(successor.stop)
        await asyncio.to_thread(zombie.stop)
