"""What the local servers share: an address, a pid file, and how to wait, run and stop.

``up`` is idempotent: a server that already answers is used as it is. Whatever ``up`` starts is
recorded by pid under the state directory, and ``down`` stops exactly that and nothing else.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.progress import Say


class InfraError(RuntimeError):
    """A local server could not be installed, started or reached; the message says what to do."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    answering: bool
    pid: int | None
    """The pid of the process ``up`` started, while it still runs; None for a server we found."""


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise InfraError(f"{what} did not answer within {timeout:.0f}s")
        time.sleep(0.25)


def _running(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in ``pid_file`` if that process still runs and its command line contains
    ``marker``, so that a recycled pid is never taken for ours."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return None
    return pid if marker in cmdline else None


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(cmd: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise InfraError(f"{what} failed ({' '.join(cmd[:3])} …):\n{result.stdout}{result.stderr}")


class LocalServer:
    """What the two local servers share: an address, and a pid file naming the process that
    ``up`` started, recognised by ``marker`` in its command line and stopped by ``stop_signal``."""

    name: str
    stop_signal: signal.Signals

    def __init__(self, host: str, port: int, pid_file: Path, marker: str):
        self.host, self.port = host, port
        self.pid_file, self.marker = pid_file, marker

    def running_pid(self) -> int | None:
        """The pid of the process ``up`` started, while it still runs."""
        return _running(self.pid_file, self.marker)

    def status(self) -> ServerStatus:
        return ServerStatus(
            self.name, f"{self.host}:{self.port}", answers(self.host, self.port), self.running_pid()
        )

    def statuses(self) -> list[ServerStatus]:
        """One status per process (a local Kafka cluster has one per node)."""
        return [self.status()]

    def up(self, say: Say) -> None:
        raise NotImplementedError

    def down(self, say: Say) -> None:
        pid = _running(self.pid_file, self.marker)
        if pid is None:
            say(f"{self.name}: nothing started by casetrail is running")
            return
        os.kill(pid, self.stop_signal)
        try:
            wait_until(lambda: _running(self.pid_file, self.marker) is None, 60, "stop")
        except InfraError:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        say(f"{self.name}: stopped pid {pid}")


def free_port() -> int:
    """A TCP port nothing listens on right now (for a service started for a test or a bench)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
