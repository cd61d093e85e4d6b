"""Helpers for tests that run the real servers and services as separate processes."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from aiokafka import TopicPartition

from services.adapters.kafka import read_to_end
from services.infra.processes import start_service, stop
from services.settings import Settings

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
        async for record in read_to_end(settings.kafka_bootstrap, tps)
    ]


async def dead_letters(settings: Settings) -> list[tuple[bytes, dict[str, str]]]:
    """Every dead letter: the refused record's bytes, and the headers that say why."""
    tps = [TopicPartition(settings.deadletter_topic, 0)]
    return [
        (record.value or b"", {name: value.decode() for name, value in record.headers})
        async for record in read_to_end(settings.kafka_bootstrap, tps)
    ]


def healthy(url: str) -> bool | None:
    try:
        return True if httpx.get(f"{url}/health", timeout=2).status_code == 200 else None
    except httpx.HTTPError:
        return None
