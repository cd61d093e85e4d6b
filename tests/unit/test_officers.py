"""The decider decides with the town's own officer directory, never with the demo's by default."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.decider.officers import NoOfficers, load_officers
from services.demo import OFFICERS_FILE


def test_the_demo_directory_loads() -> None:
    officers = load_officers(OFFICERS_FILE)
    assert officers["DY-XF-01"].department == "信访办"


def test_no_directory_is_a_clear_error() -> None:
    with pytest.raises(NoOfficers, match="CASETRAIL_OFFICERS_FILE is not set"):
        load_officers(None)


@pytest.mark.parametrize(
    "content", ["not json", '{"people": []}', '{"officers": [{"officer_id": 1}]}']
)
def test_an_unreadable_directory_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "officers.json"
    path.write_text(content, "utf-8")
    with pytest.raises(NoOfficers, match="cannot read the officer directory"):
        load_officers(path)


def test_the_decider_refuses_to_start_without_a_directory() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CASETRAIL_OFFICERS_FILE"}
    # No Kafka is needed to see the refusal: the directory is read before anything connects.
    env["CASETRAIL_KAFKA_BOOTSTRAP"] = "127.0.0.1:1"
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "decider"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "CASETRAIL_OFFICERS_FILE is not set" in run.stderr
