"""Helpers for tests that run the real servers and services as separate processes."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from services.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "CASETRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CASETRAIL_POSTGRES_DSN": settings.postgres_dsn,
        "CASETRAIL_TOPIC_PREFIX": settings.topic_prefix,
        "CASETRAIL_PARTITIONS": str(settings.partitions),
        "CASETRAIL_STATE_DIR": str(settings.state_dir),
        "CASETRAIL_GATEWAY_PORT": str(settings.gateway_port),
        "CASETRAIL_QUERY_PORT": str(settings.query_port),
        "CASETRAIL_OUTCOME_TIMEOUT_S": str(settings.outcome_timeout_s),
    }


def casetrail(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env_for(settings),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


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


def healthy(url: str) -> bool | None:
    try:
        return True if httpx.get(f"{url}/health", timeout=2).status_code == 200 else None
    except httpx.HTTPError:
        return None
