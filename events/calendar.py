"""Working days on the official Chinese calendar (法定节假日 and 调休), as pure functions."""

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import chinese_calendar  # type: ignore[import-untyped]

CHINA = timezone(timedelta(hours=8))
"""China Standard Time, UTC+8 all year (no daylight saving after 1991)."""

_ONE_DAY = timedelta(days=1)


def local_day(instant: datetime) -> date:
    """The date of an aware instant in China time."""
    # A naive datetime would be read in the host's time zone: the answer would depend on the server.
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant!r}")
    return instant.astimezone(CHINA).date()


@lru_cache(maxsize=8192)
def is_working_day(day: date) -> bool:
    """Whether `day` is a working day, holidays and make-up working days (调休) included.

    The schedule comes from the `chinese-calendar` package, which knows only the years the State
    Council has published (2004 to 2026 in 1.11). For any other year this falls back to Monday to
    Friday, which is wrong on public holidays and make-up days: upgrade the package every year when
    the next year's schedule is published (usually in November or December).
    """
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


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
