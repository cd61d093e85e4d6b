"""`infra down` stops only what `infra up` started: the pid file alone is not enough."""

import subprocess
from pathlib import Path

from services.infra import LocalKafka, LocalPostgres
from services.settings import Settings
from tests.support import eventually


def test_down_never_signals_a_process_that_is_not_ours(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
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
