"""Nothing lost when a broker fails: a real 3-node cluster (topics with 3 replicas and
min.insync.replicas=2, every write acks=all), a decider deciding a stream published over ~15 s,
and one broker killed with SIGKILL mid-stream and brought back: any broker, then on purpose the
leader of the events topic's partition 0. Every acknowledged submission gets exactly one
outcome, every accepted step exactly one event, versions stay gapless per case, the hash chain
and the signed checkpoints verify, and the decider is still running at the end.

The figures (sent, acknowledged, outcomes, events, how long writes stalled, how long until
leaders moved and until every replica was back in sync) print with ``pytest -s``."""

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.adapters.kafka import client_options, create_topics, delete_topics, topic_layout
from services.bench.workload import submissions
from services.settings import KafkaRole, Settings
from tests.faults.cluster import INTERNAL_TOPICS, Cluster, cluster_of_three
from tests.support import Service, assert_exactly_once, signed_messages, submission_ids

STREAM_S = 15.0
SUBMISSIONS = 3000  # 300 cases of 10 steps, published evenly over STREAM_S
KILL_AT_S = 4.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, servers: Settings) -> Iterator[Cluster]:
    with cluster_of_three(tmp_path_factory.mktemp("cluster"), servers) as started:
        where = started.settings.kafka_bootstrap
        print(f"\n3-node cluster on {where}: up in {started.started_in:.1f}s")
        yield started


@pytest.fixture
async def log(cluster: Cluster) -> AsyncIterator[Settings]:
    """Topics of one test's own on the cluster, replicated 3 times with min.insync.replicas=2."""
    settings = cluster.settings.model_copy(
        update={"topic_prefix": f"{cluster.settings.topic_prefix}-{uuid.uuid4().hex[:6]}"}
    )
    await create_topics(settings, lambda _: None)
    for p in await cluster.partitions(list(topic_layout(settings))):
        assert len(p["replicas"]) == 3, p
    yield settings
    await delete_topics(settings)


@dataclass
class Stream:
    """What the publisher saw: each submission's id, and whether (and when) Kafka acked it."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    acked: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def longest_gap(self) -> float:
        """The longest time without any acknowledgement: how long writes stalled."""
        times = sorted(self.acked.values())
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def publish(settings: Settings, messages: list[tuple[str, bytes]], stream: Stream) -> None:
    """Publish evenly over STREAM_S with acks=all and idempotence; record each acknowledgement
    (or failure) as it comes, not in sending order, so that a stalled partition never hides the
    others' acknowledgements."""
    messages = signed_messages(settings, messages)
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.DEPARTMENT)),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    await producer.start()
    pending: list[asyncio.Future[Any]] = []

    def settle(submission_id: str, future: asyncio.Future[Any]) -> None:
        error = future.exception() if not future.cancelled() else asyncio.CancelledError()
        if error is None:
            stream.acked[submission_id] = time.monotonic()
        else:
            stream.failed[submission_id] = repr(error)

    try:
        chunks = 150
        size = -(-len(messages) // chunks)
        started = time.monotonic()
        for index, start in enumerate(range(0, len(messages), size)):
            for case_id, value in messages[start : start + size]:
                future = await producer.send(
                    settings.submissions_topic, value, key=case_id.encode()
                )
                submission_id = json.loads(value)["submission_id"]
                future.add_done_callback(lambda f, s=submission_id: settle(s, f))
                pending.append(future)
                stream.sent.append((case_id, value))
            await asyncio.sleep(
                max(0.0, started + (index + 1) * STREAM_S / chunks - time.monotonic())
            )
        await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 120)
    finally:
        await producer.stop()


async def assert_nothing_lost(settings: Settings, stream: Stream) -> dict[str, int]:
    """Every acknowledged submission decided exactly once (one sent but never acknowledged may
    or may not have reached the log: if it did, it too is decided exactly once)."""
    sent = submission_ids(stream.sent)
    figures = await assert_exactly_once(settings, set(stream.acked), sent)
    if not stream.failed:  # each case's steps arrived in order: every one is legal
        assert figures["accepted"] == figures["submissions answered"]
    return {
        **figures,
        "acknowledged": len(stream.acked),
        "not acknowledged": len(stream.failed),
    }


async def kill_and_bring_back(
    cluster: Cluster, settings: Settings, choose: Any, figures: dict[str, Any]
) -> None:
    """At KILL_AT_S into the stream, SIGKILL the node ``choose()`` names; once no partition is
    led by it any more, bring it back with ``infra up``; then wait until every replica of our
    topics and of the internal ones is in sync again."""
    await asyncio.sleep(KILL_AT_S)
    victim = int(await choose())
    topics = [*topic_layout(settings), *INTERNAL_TOPICS]
    before = {
        (p["topic"], p["partition"])
        for p in await cluster.partitions(topics)
        if p["leader"] == victim
    }
    killed = time.monotonic()
    cluster.kill(victim)
    figures["killed node"] = victim
    figures["partitions it led"] = len(before)
    figures["leaders moved after s"] = round(
        await cluster.wait_for(topics, lambda p: p["leader"] not in (victim, -1), 60), 1
    )
    figures["node back after s (infra up)"] = round(await asyncio.to_thread(cluster.up), 1)
    figures["all replicas in sync after s"] = round(
        await cluster.wait_for(topics, lambda p: len(p["isr"]) == len(p["replicas"]), 120), 1
    )
    figures["from kill to full ISR s"] = round(time.monotonic() - killed, 1)


async def run_with_a_broker_failure(
    cluster: Cluster, settings: Settings, tmp_path: Path, choose: Any, title: str
) -> None:
    started = time.monotonic()
    messages = submissions(SUBMISSIONS, 10, uuid.uuid4().hex[:6])
    decider = Service("decider", settings, tmp_path)
    decider.start()
    stream = Stream()
    figures: dict[str, Any] = {}
    try:
        await asyncio.gather(
            publish(settings, messages, stream),
            kill_and_bring_back(cluster, settings, choose, figures),
        )
        figures["writes stalled s (longest gap between acks)"] = round(stream.longest_gap(), 1)
        figures.update(await assert_nothing_lost(settings, stream))
        decider.check_alive()
    except BaseException:
        print(f"\n{title}: FAILED; figures so far {figures}")
        print(f"decider log tail:\n{decider.log.read_text(errors='replace')[-4000:]}")
        print(cluster.logs(8))
        raise
    finally:
        await asyncio.to_thread(decider.stop)
    figures["test took s"] = round(time.monotonic() - started, 1)
    print(f"\n{title}:")
    for name, value in figures.items():
        print(f"  {name}: {value}")


@pytest.mark.timeout(600)
async def test_a_broker_killed_and_brought_back_loses_and_doubles_nothing(
    cluster: Cluster, log: Settings, tmp_path: Path
) -> None:
    async def a_follower_of_events_0() -> int:
        """A broker that does not lead events partition 0 (the next test kills that one)."""
        leader = await cluster.leader(log.events_topic, 0)
        return next(n for n in (1, 2, 3) if n != leader)

    await run_with_a_broker_failure(cluster, log, tmp_path, a_follower_of_events_0, "any broker")


@pytest.mark.timeout(600)
async def test_the_leader_of_the_log_killed_and_brought_back_loses_and_doubles_nothing(
    cluster: Cluster, log: Settings, tmp_path: Path
) -> None:
    async def the_leader_of_events_0() -> int:
        return await cluster.leader(log.events_topic, 0)

    await run_with_a_broker_failure(
        cluster, log, tmp_path, the_leader_of_events_0, "the leader of events partition 0"
    )
