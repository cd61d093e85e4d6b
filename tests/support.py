"""Helpers for tests that run the real servers and services as separate processes."""

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from events.model import Outcome
from services.adapters.kafka import client_options, create_topics, delete_topics, read_to_end
from services.infra.processes import start_service, stop
from services.integrity.checkpoints import Checkpoint
from services.integrity.declaration import read_declaration
from services.integrity.keyring import load_ring
from services.integrity.log_check import verify_log
from services.integrity.signing import DepartmentSigners
from services.settings import KafkaRole, Settings
from tests.signing import SUITE

T = TypeVar("T")


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    return {**os.environ, **settings.as_env()}


def casetrail(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


RUNNING: set["Service"] = set()
"""Every service process a test has started and not stopped yet."""


class Service:
    """One CaseTrail service in its own process, with its output in a log file."""

    def __init__(self, name: str, settings: Settings, log_dir: Path):
        self.name, self.settings = name, settings
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_service(self.name, self.settings, self.log)
        RUNNING.add(self)

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        stop(self.process, kill)
        self.process = None
        RUNNING.discard(self)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing, like a stalled machine."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"service {self.name} exited:\n{tail}")


def start_services(settings: Settings, log_dir: Path, *names: str) -> list[Service]:
    """Each named service in its own process, started, in this order."""
    services = [Service(name, settings, log_dir) for name in names]
    for service in services:
        service.start()
    return services


def free_port_block(count: int, attempts: int = 200) -> int:
    """The first of ``count`` consecutive loopback ports that nothing listens on right now,
    below Linux's ephemeral range (32768 and up): a server stopped on purpose must find its
    ports free again, not taken meanwhile by some client's outgoing connection."""
    chance = random.Random()
    for _ in range(attempts):
        base = chance.randrange(20_000, 32_000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def eventually(probe: Callable[[], T | None], timeout: float = 30, what: str = "it") -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.2)


async def whole_topic(
    settings: Settings, topic: str, partitions: int | None = None
) -> list[tuple[int, int, bytes]]:
    """Every committed record of ``topic`` as (partition, offset, value)."""
    tps = [TopicPartition(topic, p) for p in range(partitions or settings.partitions)]
    return [
        (record.partition, record.offset, record.value or b"")
        async for record in read_to_end(settings.as_kafka_user(KafkaRole.AUDITOR), tps)
    ]


async def dead_letters(settings: Settings) -> list[tuple[bytes, dict[str, str]]]:
    """Every dead letter: the refused record's bytes, and the headers that say why."""
    tps = [TopicPartition(settings.deadletter_topic, 0)]
    return [
        (record.value or b"", {name: value.decode() for name, value in record.headers})
        async for record in read_to_end(settings.as_kafka_user(KafkaRole.AUDITOR), tps)
    ]


def healthy(url: str) -> bool | None:
    try:
        return True if httpx.get(f"{url}/health", timeout=2).status_code == 200 else None
    except httpx.HTTPError:
        return None


# --- the decider's promise, checked on the topics ---------------------------------------------


def signed_messages(
    settings: Settings, messages: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """Each submission signed with its department's development key, as a department's own
    Kafka client sends it (records that are no submissions stay as they are)."""
    signers = DepartmentSigners.load(settings)
    return [(case_id, signers.sign_json(value)) for case_id, value in messages]


def crc32_partitioner(settings: Settings) -> Callable[[str], int]:
    """Where librdkafka's clients (confluent-kafka, kcat…) put a key by default: CRC32, not
    Kafka's murmur2, so most of a case's submissions arrive on another partition than its."""
    return lambda case_id: zlib.crc32(case_id.encode()) % settings.partitions


async def publish(
    settings: Settings,
    messages: list[tuple[str, bytes]],
    chunks: int,
    partition_of: Callable[[str], int] | None = None,
) -> None:
    """Publish in ``chunks`` spread over time, so that the stream outlives several faults; each
    submission signed by its department. ``partition_of``: where the client puts a case's
    submissions (default: Kafka's partitioner, murmur2 of the key)."""
    messages = signed_messages(settings, messages)
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.DEPARTMENT)),
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        size = -(-len(messages) // chunks)
        for start in range(0, len(messages), size):
            for case_id, value in messages[start : start + size]:
                where = partition_of(case_id) if partition_of else None
                await producer.send(
                    settings.submissions_topic, value, key=case_id.encode(), partition=where
                )
            await producer.flush()
            await asyncio.sleep(0.4)
    finally:
        await producer.stop()


def submission_ids(messages: Iterable[tuple[str, bytes]]) -> set[str]:
    return {json.loads(value)["submission_id"] for _, value in messages}


def outcome_or_none(value: bytes) -> Outcome | None:
    """An outcome; None for junk put on the topic by a test (``casetrail verify`` names it)."""
    try:
        return Outcome.model_validate_json(value)
    except ValidationError:
        return None


async def all_outcomes(settings: Settings, expected: set[str], seconds: float) -> list[Outcome]:
    """Every outcome on the topic, once each submission of ``expected`` has one."""
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


async def assert_exactly_once(
    settings: Settings,
    expected: set[str],
    sent: set[str] | None = None,
    resent: bool = False,
    seconds: float = 240,
) -> dict[str, int]:
    """The decider's promise: every submission of ``expected`` has exactly one answer (with
    ``resent``, clients sent some again and got the very same outcome again: one distinct
    outcome each), none of a submission that was not ``sent`` (default: ``expected``); every
    accepted step is exactly one event; versions are gapless per case; the signed log
    verifies, every event covered by a checkpoint. Returns the figures."""
    sent = expected if sent is None else sent
    outcomes = await all_outcomes(settings, expected, seconds)
    answers: dict[str, set[Outcome]] = {}
    for outcome in outcomes:
        answers.setdefault(str(outcome.submission_id), set()).add(outcome)
    assert set(answers) <= sent, "no answer to a submission nobody sent"
    if not resent:
        repeated = Counter(str(o.submission_id) for o in outcomes)
        assert [s for s, n in repeated.items() if n != 1] == [], "one outcome per submission"
    assert [s for s, a in answers.items() if len(a) != 1] == [], "one answer per submission"
    accepted = {s for s, a in answers.items() if next(iter(a)).status == "accepted"}

    events = await whole_topic(settings, settings.events_topic)
    written = Counter(json.loads(raw)["submission_id"] for _, _, raw in events)
    assert [s for s, n in written.items() if n != 1] == [], "each accepted step exactly once"
    assert set(written) == accepted, "an event for every accepted submission, none for others"
    versions: dict[str, list[int]] = {}
    for _, _, raw in sorted(events):  # (partition, offset): the log's order
        event = json.loads(raw)
        versions.setdefault(event["case_id"], []).append(event["version"])
    gaps = {case: v for case, v in versions.items() if v != list(range(1, len(v) + 1))}
    assert gaps == {}, "versions gapless per case"

    checkpoints = [
        Checkpoint.model_validate_json(raw)
        for _, _, raw in await whole_topic(settings, settings.checkpoints_topic)
        if read_declaration(raw) is None  # the log's suite declaration, on p0
    ]
    ring, grace = load_ring(settings.key_ring_path), timedelta(seconds=settings.verify_grace_s)
    report = verify_log(events, checkpoints, ring, datetime.now(UTC), grace, suite=SUITE)
    assert report.intact, [str(p) for p in report.problems[:10]]
    assert report.checkpoints > 0
    # Each event's checkpoint commits with it (read after the events, it is there).
    assert report.recent == [], "every event covered by a signed checkpoint"
    return {
        "sent": len(sent),
        "outcomes": len(outcomes),
        "submissions answered": len(answers),
        "accepted": len(accepted),
        "events": len(events),
        "checkpoints": report.checkpoints,
    }


@asynccontextmanager
async def own_topics(servers: Settings, name: str, **updates: Any) -> AsyncIterator[Settings]:
    """``servers`` with topics (and their ACLs) of their own, named after ``name``, and the
    other ``updates``; the topics are deleted afterwards."""
    settings = servers.model_copy(
        update={"topic_prefix": f"{servers.topic_prefix}-{name}-{uuid.uuid4().hex[:6]}", **updates}
    )
    await create_topics(settings, lambda _: None)
    try:
        yield settings
    finally:
        await delete_topics(settings)
