"""Helpers for tests that run the real servers and services as separate processes."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from aiokafka import TopicPartition

from services.kafka import read_to_end
from services.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    values = {
        f"CASETRAIL_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }
    return {**os.environ, **values}


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
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", self.name],
                env=env_for(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        RUNNING.add(self)

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
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


def healthy(url: str) -> bool | None:
    try:
        return True if httpx.get(f"{url}/health", timeout=2).status_code == 200 else None
    except httpx.HTTPError:
        return None
