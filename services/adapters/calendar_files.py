"""The operator's holiday schedules (one ``<year>.toml`` per year in ``settings.calendar_path``),
and how far ahead the working-day calendar reaches.

The packages learn a year's schedule only when a new release follows the State Council's notice;
until then an operator copies the notice into a file, and every service (decider, projector,
query, the command line) reads the same files at its start: a deadline must come out the same
wherever it is counted.
"""

import json
import logging
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from events import calendar
from events.calendar import CHINA, WorkingCalendar, YearSchedule, with_operator_files
from services.settings import Settings

log = logging.getLogger(__name__)

EXAMPLE = """\
# <calendar dir>/2027.toml: the State Council's notice for 2027, copied by an operator
year = 2027
notice = "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕N号）"
rest_days = ["2027-01-01", "…"]     # every day off of the holidays (weekends may be listed)
working_days = ["2027-02-…", "…"]   # weekend days worked instead (调休上班)
"""


def read_schedules(directory: Path) -> list[YearSchedule]:
    """Every ``*.toml`` and ``*.json`` schedule in ``directory`` (none if it does not exist).
    A file that does not parse is an error naming the file: a wrong schedule must not be
    skipped quietly, since deadlines would then be refused or, worse, counted differently."""
    if not directory.is_dir():
        return []
    schedules = []
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".toml", ".json") or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
            data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError) as error:
            raise ValueError(f"{path}: not a readable schedule: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a schedule is a table of year, notice, rest_days, …")
        schedules.append(YearSchedule.from_mapping(data, str(path)))
    return schedules


def install(settings: Settings) -> WorkingCalendar:
    """Read the operator's schedules and make them, with the packages, the calendar every
    deadline uses; raises ValueError (naming the file) if one is wrong."""
    chosen = with_operator_files(read_schedules(settings.calendar_path))
    calendar.use(chosen)
    return chosen


@dataclass(frozen=True)
class Coverage:
    """How far ahead deadlines can be counted."""

    today: date
    horizon_end: date
    uncovered_year: int | None
    """The first year up to ``horizon_end`` whose schedule no source holds."""
    sources: dict[int, str]
    """Each year from today's to the horizon's that is covered, and by what."""

    @property
    def warning(self) -> str | None:
        if self.uncovered_year is None:
            return None
        return (
            f"{self.uncovered_year}年节假日安排尚未录入：截止日期落在{self.uncovered_year}年的"
            f"办理步骤将被拒绝 / the holiday schedule of {self.uncovered_year} is missing: steps"
            f" whose deadlines fall in {self.uncovered_year} are refused (calendar_not_covered)"
            f" until the State Council's notice is added as a calendar file"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "horizon_end": self.horizon_end.isoformat(),
            "uncovered_year": self.uncovered_year,
            "sources": {str(year): source for year, source in self.sources.items()},
            "warning": self.warning,
        }


def coverage(settings: Settings, now: datetime | None = None) -> Coverage:
    today = (now or datetime.now(CHINA)).astimezone(CHINA).date()
    end = today + timedelta(days=settings.calendar_horizon_days)
    active = calendar.active()
    sources = {}
    for year in range(today.year, end.year + 1):
        schedule = active.schedule(year)
        if schedule is not None:
            sources[year] = schedule.source
    return Coverage(today, end, active.first_uncovered(today, end), sources)


def install_and_warn(settings: Settings) -> Coverage:
    """At a service's start: install the schedules and log loudly when the horizon runs into a
    year none covers."""
    install(settings)
    found = coverage(settings)
    if found.warning:
        log.warning("calendar: %s", found.warning)
    return found
