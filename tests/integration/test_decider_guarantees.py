"""The decider's guarantees on the real broker: nothing lost, nothing doubled, whatever happens
to the decider processes (DESIGN.md, guarantees 1, 2 and 5)."""

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from events.model import Outcome
from services.adapters.kafka import create_topics, delete_topics
from services.bench.workload import submissions
from services.integrity.checkpoints import Checkpoint, load_public_key
from services.integrity.log_check import verify_log
from services.settings import Settings
from tests.support import Service, whole_topic


@pytest.fixture
async def log(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of its own for one test, and a decider that notices a dead peer within 6 s."""
    settings = servers.model_copy(
        update={
            "topic_prefix": f"{servers.topic_prefix}-{uuid.uuid4().hex[:6]}",
            "decider_session_timeout_ms": 6000,
            "checkpoint_every_events": 500,
            "checkpoint_every_s": 2.0,
        }
    )
    await create_topics(settings, lambda _: None)
    yield settings
    await delete_topics(settings)


async def publish(settings: Settings, messages: list[tuple[str, bytes]], chunks: int) -> None:
    """Publish in ``chunks`` spread over time, so that the stream outlives several crashes."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        size = -(-len(messages) // chunks)
        for start in range(0, len(messages), size):
            for case_id, value in messages[start : start + size]:
                await producer.send(settings.submissions_topic, value, key=case_id.encode())
            await producer.flush()
            await asyncio.sleep(0.4)
    finally:
        await producer.stop()


def outcome_or_none(value: bytes) -> Outcome | None:
    """An outcome; None for junk put on the topic by a test (``casetrail verify`` names it)."""
    try:
        return Outcome.model_validate_json(value)
    except ValidationError:
        return None


async def all_outcomes(settings: Settings, expected: set[str], seconds: float) -> list[Outcome]:
    decided: set[str] = set()
    try:
        async with asyncio.timeout(seconds):
            while True:
                records = await whole_topic(settings, settings.outcomes_topic)
                outcomes = [o for _, _, value in records if (o := outcome_or_none(value))]
                decided = {str(o.submission_id) for o in outcomes}
                if decided >= expected:
                    return outcomes
                await asyncio.sleep(1)
    except TimeoutError:
        missing = len(expected - decided)
        raise AssertionError(f"{missing} submissions have no outcome after {seconds}s") from None


async def assert_exactly_once(settings: Settings, sent: list[tuple[str, bytes]]) -> None:
    expected = {json.loads(value)["submission_id"] for _, value in sent}
    outcomes = await all_outcomes(settings, expected, seconds=240)
    per_submission = Counter(str(o.submission_id) for o in outcomes)
    assert set(per_submission) == expected
    assert [s for s, n in per_submission.items() if n != 1] == [], "one outcome per submission"
    rejected = [o for o in outcomes if o.status != "accepted"]
    assert rejected == [], "every submission of these cases is legal in order"

    events = await whole_topic(settings, settings.events_topic)
    written = Counter(json.loads(raw)["submission_id"] for _, _, raw in events)
    assert set(written) == expected
    assert [s for s, n in written.items() if n != 1] == [], "each accepted step exactly once"

    checkpoints = [
        Checkpoint.model_validate_json(raw)
        for _, _, raw in await whole_topic(settings, settings.checkpoints_topic)
    ]
    report = verify_log(events, checkpoints, load_public_key(settings.signing_key_path))
    assert report.intact, [str(p) for p in report.problems[:10]]
    assert report.events == len(expected)
    assert report.checkpoints > 0


async def test_decider_killed_at_random_moments_loses_and_doubles_nothing(
    log: Settings, tmp_path: Path
) -> None:
    messages = submissions(5000, 10, uuid.uuid4().hex[:6])  # 500 cases, 10 steps each
    decider = Service("decider", log, tmp_path)
    decider.start()
    chaos = random.Random(2020)
    publishing = asyncio.create_task(publish(log, messages, chunks=40))
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
        await assert_exactly_once(log, messages)
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
    await asyncio.to_thread(first.stop)  # and back, as the first leaves
    await publishing
    try:
        await assert_exactly_once(log, messages)
    finally:
        second.check_alive()
        await asyncio.to_thread(second.stop)


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
        await assert_exactly_once(log, messages)
    finally:
        successor.check_alive()
        await asyncio.to_thread(successor.stop)
        await asyncio.to_thread(zombie.stop)
