"""`infra down` stops only what `infra up` started: the pid file alone is not enough."""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.infra import (
    InfraError,
    LocalKafka,
    LocalPostgres,
    LocalServer,
    ServerStatus,
    bring_up,
)
from services.infra.postgres_server import SHARED_CLUSTERS, cluster_dir
from services.progress import Say
from services.settings import Settings
from tests.support import eventually


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A scratch directory every user can get through, as a clone in /srv or /home/x would be.
    Not pytest's tmp_path: that lies in a directory closed to others (where the local PostgreSQL
    moves its cluster out of the state directory, a case of its own below)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        Path(scratch).chmod(0o755)
        yield Path(scratch)


def test_down_never_signals_a_process_that_is_not_ours(open_dir: Path) -> None:
    settings = Settings(state_dir=open_dir / ".local")
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        for server in (LocalKafka(settings), LocalPostgres(settings)):
            server.pid_file.parent.mkdir(parents=True, exist_ok=True)
            server.pid_file.write_text(f"{stranger.pid}\n")  # e.g. a recycled pid
            said: list[str] = []
            server.down(said.append)
            assert stranger.poll() is None
            assert said == [f"{server.name}: nothing started by casetrail is running"]
            assert server.status().pid is None
    finally:
        stranger.kill()
        stranger.wait()


def test_down_stops_the_process_up_recorded(tmp_path: Path) -> None:
    kafka = LocalKafka(Settings(state_dir=tmp_path))
    kafka.dir.mkdir(parents=True)
    # A stand-in whose command line names our server.properties, as the real broker's does.
    ours = subprocess.Popen(["sh", "-c", "sleep 30", str(kafka.properties)])
    kafka.pid_file.write_text(f"{ours.pid}\n")
    # Until the child has exec'd, /proc shows the parent's command line: wait for the real one.
    assert eventually(lambda: kafka.status().pid, 5, "the stand-in's exec") == ours.pid
    kafka.down(lambda _: None)
    assert ours.wait(timeout=5) != 0
    assert not kafka.pid_file.exists()


@pytest.mark.parametrize(
    ("mode", "euid", "shared"),
    [
        pytest.param(0o700, 0, True, id="root-in-a-private-home"),
        pytest.param(0o755, 0, False, id="root-in-an-open-directory"),
        pytest.param(0o700, 1000, False, id="a-user-runs-postgres-as-themself"),
    ],
)
def test_the_cluster_lives_where_the_postgres_user_can_reach_it(
    open_dir: Path, monkeypatch: pytest.MonkeyPatch, mode: int, euid: int, shared: bool
) -> None:
    home = open_dir / "home"
    (home / "clone").mkdir(parents=True)
    home.chmod(mode)
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    found = cluster_dir(home / "clone" / ".local")
    if shared:
        assert found.is_relative_to(SHARED_CLUSTERS)
        assert found == cluster_dir(home / "clone" / ".local")  # the same place every time
        assert found != cluster_dir(home / "other" / ".local")
        # The clone removed and cloned again at the same path: not the old clone's databases.
        shutil.rmtree(home / "clone")
        assert cluster_dir(home / "clone" / ".local") != found
    else:
        assert found == home / "clone" / ".local" / "postgres"


class _Server(LocalServer):
    """A server that only records what is done to it."""

    def __init__(self, name: str, answering: bool, fails: bool, log: list[str]):
        super().__init__("127.0.0.1", 1, Path("/nonexistent/pid"), name)
        self.name, self.answering, self.fails, self.log = name, answering, fails, log

    def status(self) -> ServerStatus:
        return ServerStatus(self.name, "127.0.0.1:1", self.answering, None)

    def up(self, say: Say) -> None:
        self.log.append(f"up {self.name}")
        if self.fails:
            raise InfraError(f"{self.name} did not start")

    def down(self, say: Say) -> None:
        self.log.append(f"down {self.name}")


def test_a_start_that_fails_stops_what_it_started_and_nothing_else() -> None:
    log: list[str] = []
    found = _Server("found", answering=True, fails=False, log=log)
    kafka = _Server("kafka", answering=False, fails=False, log=log)
    postgres = _Server("postgres", answering=False, fails=True, log=log)
    with pytest.raises(InfraError, match="postgres did not start"):
        bring_up([found, kafka, postgres], log.append)
    assert log == ["up found", "up kafka", "up postgres", "down postgres", "down kafka"]


def test_a_start_that_succeeds_names_what_it_started() -> None:
    log: list[str] = []
    found = _Server("found", answering=True, fails=False, log=log)
    kafka = _Server("kafka", answering=False, fails=False, log=log)
    assert bring_up([found, kafka], log.append) == [kafka]
    assert log == ["up found", "up kafka"]


def test_a_repeated_complaint_is_logged_once_per_interval_with_a_count() -> None:
    """An outage makes Kafka's client complain hundreds of times a second: the log says it
    once every few seconds, with how many it held back, and lets every other line through."""
    import logging

    from services.logs import Repeats

    repeats = Repeats(every=60)

    def record(level: int, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", level, __file__, 1, msg, args, None)

    first = record(logging.ERROR, "Unable to update metadata from %s", 1)
    assert repeats.filter(first)
    template = "Unable to update metadata from %s"
    held = [repeats.filter(record(logging.ERROR, template, n)) for n in range(500)]
    assert not any(held)
    assert repeats.filter(record(logging.ERROR, "another complaint"))
    assert repeats.filter(record(logging.INFO, "Unable to update metadata from %s", 1))
    repeats.seen[("aiokafka", "Unable to update metadata from %s")] = (0.0, 500)
    later = record(logging.ERROR, "Unable to update metadata from %s", 1)
    assert repeats.filter(later)
    assert later.getMessage().startswith("Unable to update metadata from 1 [500 more like this")
