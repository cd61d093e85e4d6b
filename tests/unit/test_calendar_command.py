"""``casetrail calendar``: coverage as the operator sees it, and schedule files read by every
command. Runs the real command line with CASETRAIL_CALENDAR_DIR pointing at a test directory."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events import calendar
from services.cli.main import app

SCHEDULE_2027 = """\
year = 2027
notice = "测试用2027年安排 / a test schedule, not the real notice"
rest_days = ["2027-01-01", "2027-10-01"]
working_days = []
"""


@pytest.fixture(autouse=True)
def keep_the_calendar() -> Iterator[None]:
    # The commands install what they read: put back the calendar the other tests use.
    previous = calendar.active()
    yield
    calendar.use(previous)


def run(tmp_path: Path, *args: str, horizon: int = 150) -> tuple[int, str]:
    env = {
        "CASETRAIL_CALENDAR_DIR": str(tmp_path),
        "CASETRAIL_CALENDAR_HORIZON_DAYS": str(horizon),
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_check_names_the_missing_year_and_fails(tmp_path: Path) -> None:
    # Run on any day: 3660 days ahead always reaches a year no package holds.
    code, output = run(tmp_path, "calendar", "check", "--json", horizon=3660)
    assert code == 1
    found = json.loads(output)
    assert found["uncovered_year"] is not None
    assert str(found["uncovered_year"]) not in found["sources"]
    assert f"{found['uncovered_year']}年节假日安排尚未录入" in found["warning"]


def test_a_schedule_file_covers_its_year(tmp_path: Path) -> None:
    (tmp_path / "2027.toml").write_text(SCHEDULE_2027, encoding="utf-8")
    code, output = run(tmp_path, "calendar", "is-working-day", "2027-01-01")
    assert (code, output.strip()) == (0, "2027-01-01: 休息日 / rest day")
    code, output = run(tmp_path, "calendar", "show", "2027")
    assert code == 0
    assert "测试用2027年安排" in output
    assert "2027-01-01" in output
    code, output = run(tmp_path, "calendar", "is-working-day", "2028-01-03")
    assert code == 1
    assert "2028年的节假日安排尚无来源" in output


def test_a_wrong_schedule_file_stops_every_command_that_counts_days(tmp_path: Path) -> None:
    bad = tmp_path / "2027.toml"
    bad.write_text('year = 2027\nnotice = "x"\nrest_days = ["2027-02-30"]\n', encoding="utf-8")
    code, output = run(tmp_path, "calendar", "check")
    assert code == 2
    assert str(bad) in output
    assert "'2027-02-30', not a date" in output
    code, output = run(tmp_path, "contract", "--check")
    assert code == 2
    assert str(bad) in output
