"""Working days on the official Chinese calendar (法定节假日 and 调休), as pure functions.

Which days are working days is decided each year by the State Council's notice on the holiday
schedule (国务院办公厅关于某年部分节假日安排的通知), published late in the year before. No rule
computes it, so a year counts only when a source holds that notice:

1. an operator's schedule file for the year (``YearSchedule.from_mapping``; loaded by
   ``services.calendar_files``), when the packages lag behind a published notice;
2. the ``chinese-calendar`` package (2004 to 2026 in 1.11);
3. the ``holidays`` package's China calendar, for a year in which it lists make-up working days
   (调休上班): those come only from a notice. A year it lists with holidays alone is computed from
   rules (e.g. "observed" days) and does not count.

The first source that covers a year decides it. A day of a year that no source covers is never
guessed: ``is_working_day`` raises ``CalendarNotCovered``, so that a deadline that would run
through it is refused (``calendar_not_covered``) rather than computed on Monday to Friday.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import chinese_calendar  # type: ignore[import-untyped]
import holidays

CHINA = timezone(timedelta(hours=8))
"""China Standard Time, UTC+8 all year (no daylight saving after 1991)."""

_ONE_DAY = timedelta(days=1)


def local_day(instant: datetime) -> date:
    """The date of an aware instant in China time."""
    # A naive datetime would be read in the host's time zone: the answer would depend on the server.
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant!r}")
    return instant.astimezone(CHINA).date()


class CalendarNotCovered(ValueError):
    """A day of a year whose holiday schedule no source holds."""

    def __init__(self, year: int):
        self.year = year
        super().__init__(
            f"{year}年的节假日安排尚无来源，不能计算工作日 / no source holds the holiday"
            f" schedule of {year}: add the State Council's notice for {year} as a calendar file"
            " (CASETRAIL_CALENDAR_DIR, see 'casetrail calendar --help'), or upgrade"
            " chinese-calendar"
        )


@dataclass(frozen=True)
class YearSchedule:
    """One year's schedule: the weekdays that are rest days and the weekend days that are
    working days (调休上班); every other day is a working day from Monday to Friday."""

    year: int
    rest_days: frozenset[date]
    working_days: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        strays = sorted(d for d in self.rest_days | self.working_days if d.year != self.year)
        if strays:
            raise ValueError(f"{self.year}: days of another year: {strays[0]}")
        both = sorted(self.rest_days & self.working_days)
        if both:
            raise ValueError(f"{self.year}: {both[0]} is both a rest day and a working day")

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() < 5 and day not in self.rest_days

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], origin: str) -> "YearSchedule":
        """A schedule as an operator writes it (TOML or JSON)::

        year = 2027
        notice = "国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕…号）"
        rest_days = ["2027-01-01", …]    # the holidays' days off (weekends may be listed)
        working_days = ["2027-02-…", …]  # weekend days worked instead (调休上班)
        """
        unknown = set(data) - {"year", "notice", "rest_days", "working_days"}
        if unknown:
            raise ValueError(f"{origin}: unknown keys {sorted(unknown)}")
        year, notice = data.get("year"), data.get("notice")
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year < 2200:
            raise ValueError(f"{origin}: 'year' must be a year, e.g. year = 2027")
        if not isinstance(notice, str) or not notice.strip():
            raise ValueError(f"{origin}: 'notice' must name the State Council notice it copies")

        def days(key: str) -> frozenset[date]:
            values = data.get(key, [])
            if not isinstance(values, list):
                raise ValueError(f"{origin}: {key!r} must be a list of dates")
            parsed = set()
            for value in values:
                try:
                    parsed.add(value if isinstance(value, date) else date.fromisoformat(value))
                except (TypeError, ValueError):
                    raise ValueError(f"{origin}: {key!r} holds {value!r}, not a date") from None
            return frozenset(parsed)

        try:
            schedule = cls(year, days("rest_days"), days("working_days"), f"{notice} ({origin})")
        except ValueError as error:
            raise ValueError(f"{origin}: {error}") from None
        missing = [d for d in fixed_holidays(year) if not schedule.is_rest_day_by_law(d)]
        if missing:
            raise ValueError(
                f"{origin}: {missing[0]} is a holiday by law (全国年节及纪念日放假办法) but not a"
                " rest day here: list every day off of the notice in rest_days"
            )
        return schedule

    def is_rest_day_by_law(self, day: date) -> bool:
        """A fixed holiday is kept if the schedule rests on it (or it is a weekend day not
        worked): the notice never moves these days, it only adds to them."""
        return not self.is_working_day(day)


def fixed_holidays(year: int) -> list[date]:
    """The holidays on fixed days of the solar calendar (全国年节及纪念日放假办法, 2024 revision,
    in force from 2025: 元旦 1 January, 劳动节 1 and 2 May, 国庆节 1 to 3 October; before 2025
    劳动节 was 1 May alone). Every notice keeps them: a schedule without one is mistyped. (Checked
    against both packages' schedules for 2010 to 2026, not against the decree's own text.)"""
    labour = [date(year, 5, 1), date(year, 5, 2)] if year >= 2025 else [date(year, 5, 1)]
    return [date(year, 1, 1), *labour, date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)]


def _from_chinese_calendar(year: int) -> YearSchedule | None:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return None
    rest = frozenset(d for d in chinese_calendar.constants.holidays if d.year == year)
    worked = frozenset(d for d in chinese_calendar.constants.workdays if d.year == year)
    version = getattr(chinese_calendar, "__version__", "")
    return YearSchedule(year, rest, worked, f"chinese-calendar {version}".strip())


def _from_holidays(year: int) -> YearSchedule | None:
    china = holidays.country_holidays("CN", years=year)
    worked = frozenset(d for d in getattr(china, "weekend_workdays", ()) if d.year == year)
    if not worked:
        return None
    rest = frozenset(d for d in china if d.year == year)
    return YearSchedule(year, rest, worked, f"holidays {getattr(holidays, '__version__', '')} (CN)")


PACKAGE_SOURCES: tuple[Callable[[int], YearSchedule | None], ...] = (
    _from_chinese_calendar,
    _from_holidays,
)


@dataclass
class WorkingCalendar:
    """The years known, from operator files first and then the packages."""

    operator_years: Mapping[int, YearSchedule] = field(default_factory=dict)
    sources: tuple[Callable[[int], YearSchedule | None], ...] = PACKAGE_SOURCES
    _years: dict[int, YearSchedule | None] = field(default_factory=dict, repr=False)
    _days: dict[date, bool] = field(default_factory=dict, repr=False)

    def schedule(self, year: int) -> YearSchedule | None:
        if year not in self._years:
            found = self.operator_years.get(year)
            for source in self.sources:
                if found is not None:
                    break
                found = source(year)
            self._years[year] = found
        return self._years[year]

    def is_working_day(self, day: date) -> bool:
        known = self._days.get(day)
        if known is None:
            schedule = self.schedule(day.year)
            if schedule is None:
                raise CalendarNotCovered(day.year)
            known = self._days[day] = schedule.is_working_day(day)
        return known

    def first_uncovered(self, start: date, end: date) -> int | None:
        """The first year from ``start`` to ``end`` (inclusive) that no source covers."""
        return next((y for y in range(start.year, end.year + 1) if self.schedule(y) is None), None)


def package_schedules(year: int) -> list[YearSchedule]:
    """Every package's schedule of ``year`` (for comparing the sources)."""
    return [s for s in (source(year) for source in PACKAGE_SOURCES) if s is not None]


def differences(one: YearSchedule, other: YearSchedule) -> list[date]:
    """The days of the year the two schedules do not agree on."""
    day, found = date(one.year, 1, 1), []
    while day.year == one.year:
        if one.is_working_day(day) != other.is_working_day(day):
            found.append(day)
        day += _ONE_DAY
    return found


_active = WorkingCalendar()


def active() -> WorkingCalendar:
    return _active


def use(calendar: WorkingCalendar) -> WorkingCalendar:
    """Make ``calendar`` the one every deadline uses (at a service's start); returns the old."""
    global _active
    previous, _active = _active, calendar
    return previous


def with_operator_files(schedules: Iterable[YearSchedule]) -> WorkingCalendar:
    years: dict[int, YearSchedule] = {}
    for schedule in schedules:
        if schedule.year in years:
            raise ValueError(
                f"two schedules for {schedule.year}: {years[schedule.year].source} and"
                f" {schedule.source}"
            )
        years[schedule.year] = schedule
    return WorkingCalendar(operator_years=years)


def is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day, holidays and make-up working days (调休) included.
    Raises ``CalendarNotCovered`` for a year no source holds."""
    return _active.is_working_day(day)


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start`; `start` itself is not counted. `n == 0` gives `start`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = start
    while n > 0:
        day += _ONE_DAY
        if is_working_day(day):
            n -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """The number of working days d with start < d <= end (0 if end <= start)."""
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        if is_working_day(day):
            count += 1
        day += _ONE_DAY
    return count


def add_calendar_days(start: date, n: int) -> date:
    """`start` + n days, moved to the next working day if that last day is a rest day.

    民法典 第二百零三条: when the last day of a period is a statutory rest day, the period ends on
    the day after the rest ends. (The days in between are counted as calendar days.)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = start + timedelta(days=n)
    while not is_working_day(day):
        day += _ONE_DAY
    return day


def calendar_days_between(start: date, end: date) -> int:
    """The number of calendar days from `start` (exclusive) to `end` (inclusive), at least 0."""
    return max(0, (end - start).days)
