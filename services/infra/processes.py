"""CaseTrail's services as child processes (the demo, the benchmarks and the tests start them)."""

import os
import subprocess
import sys
from pathlib import Path

from services.settings import Settings

SERVICES = ("decider", "projector", "gateway", "query")


def start_service(name: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``casetrail NAME`` with exactly ``settings``, its output appended to ``log``."""
    return start_python(["-m", "services.cli", name], settings, log)


def start_python(args: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``python ARGS`` with exactly ``settings``, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **settings.as_env()},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop(process: subprocess.Popen[bytes], kill: bool = False, timeout: float = 20) -> None:
    """SIGTERM (or SIGKILL) and wait; SIGKILL if it has not ended within ``timeout``."""
    if kill:
        process.kill()
    else:
        process.terminate()
    _wait(process, timeout)


def stop_all(processes: list[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """SIGTERM to every one first, so that they stop together; then wait for each."""
    for process in processes:
        process.terminate()
    for process in processes:
        _wait(process, timeout)


def _wait(process: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
