"""The working-day calendar never guesses: years come from the packages or an operator's file
of the State Council's notice, and a day of a year that none holds is refused loudly."""

from collections.abc import Iterator
from datetime import date

import pytest

from events import calendar
from events.calendar import (
    CalendarNotCovered,
    YearSchedule,
    add_calendar_days,
    add_working_days,
    differences,
    fixed_holidays,
    is_working_day,
    package_schedules,
    with_operator_files,
    working_days_between,
)

TEST_2027 = {
    "year": 2027,
    # Not the real notice (none is in any package yet): a test schedule with a New Year's Day
    # holiday on Friday 2027-01-01 and one made-up weekend working day.
    "notice": "测试用2027年安排 / test schedule for 2027",
    "rest_days": ["2027-01-01", "2027-02-08", "2027-02-09", "2027-10-01"],
    "working_days": ["2027-02-20"],
}


@pytest.fixture
def with_2027() -> Iterator[None]:
    schedule = YearSchedule.from_mapping(TEST_2027, "test-2027.toml")
    previous = calendar.use(with_operator_files([schedule]))
    try:
        yield
    finally:
        calendar.use(previous)


def test_the_packages_agree_on_every_year_both_hold() -> None:
    # chinese-calendar and the holidays package were both written from the State Council's
    # notices; where both hold a year they must name the same working days.
    for year in range(2010, 2027):
        schedules = package_schedules(year)
        assert len(schedules) == 2, (year, [s.source for s in schedules])
        assert differences(*schedules) == [], year


def test_every_package_year_rests_on_the_holidays_fixed_by_law() -> None:
    # What an operator's schedule is held to (fixed_holidays), the notices always kept.
    for year in range(2010, 2027):
        for schedule in package_schedules(year):
            worked = [d for d in fixed_holidays(year) if schedule.is_working_day(d)]
            assert worked == [], (year, schedule.source)


def test_2026_comes_from_a_notice() -> None:
    assert not is_working_day(date(2026, 1, 2))  # New Year holiday (Friday)
    assert is_working_day(date(2026, 1, 4))  # Sunday worked instead (调休)
    assert is_working_day(date(2026, 9, 20))  # Sunday before National Day
    assert not is_working_day(date(2026, 10, 7))


def test_a_year_no_notice_covers_is_refused_not_guessed() -> None:
    # The holidays package lists 2027 with holidays computed from rules but no make-up working
    # days: it is not the notice, so 2027 is not covered.
    with pytest.raises(CalendarNotCovered) as refused:
        is_working_day(date(2027, 1, 1))
    assert refused.value.year == 2027
    assert "2027年的节假日安排尚无来源" in str(refused.value)
    # Monday to Friday would have made Friday 2027-01-01 a working day: nothing guesses so.
    with pytest.raises(CalendarNotCovered):
        add_working_days(date(2026, 12, 20), 15)
    with pytest.raises(CalendarNotCovered):
        working_days_between(date(2026, 12, 30), date(2027, 1, 4))
    # A period that ends inside 2026 needs nothing from 2027.
    assert add_working_days(date(2026, 12, 1), 15) == date(2026, 12, 22)


def test_the_2026_to_2027_turn_with_an_operator_schedule(with_2027: None) -> None:
    # From Sun 2026-12-20, 15 working days: Dec 21-25 (5), Dec 28-31 (9), then Fri Jan 1 is the
    # New Year holiday, Jan 4-8 (14), Jan 11 (15).
    assert add_working_days(date(2026, 12, 20), 15) == date(2027, 1, 11)
    assert not is_working_day(date(2027, 1, 1))
    assert is_working_day(date(2027, 2, 20))  # a Saturday made a working day
    # A 60-day period from 2026-11-02 ends on 2027-01-01, a holiday, then a weekend: Monday.
    assert add_calendar_days(date(2026, 11, 2), 60) == date(2027, 1, 4)
    # 2028 is still covered by nothing.
    with pytest.raises(CalendarNotCovered):
        add_working_days(date(2027, 12, 20), 15)


def test_an_operator_schedule_wins_over_the_packages() -> None:
    changed = YearSchedule.from_mapping(
        {
            "year": 2026,
            "notice": "更正 / corrected",
            "rest_days": ["2026-01-01", "2026-05-01", "2026-10-01", "2026-10-02", "2026-12-31"],
        },
        "fix.toml",
    )
    previous = calendar.use(with_operator_files([changed]))
    try:
        assert not is_working_day(date(2026, 12, 31))
        assert calendar.active().schedule(2026) is changed
    finally:
        calendar.use(previous)
    assert is_working_day(date(2026, 12, 31))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({**TEST_2027, "year": "2027"}, "'year' must be a year"),
        ({**TEST_2027, "notice": " "}, "'notice' must name"),
        ({**TEST_2027, "rest_days": "2027-01-01"}, "must be a list of dates"),
        ({**TEST_2027, "rest_days": ["2027-13-01"]}, "holds '2027-13-01', not a date"),
        ({**TEST_2027, "rest_days": ["2026-12-31"]}, "days of another year"),
        ({**TEST_2027, "working_days": ["2027-01-01"]}, "both a rest day and a working day"),
        ({**TEST_2027, "holidays": []}, "unknown keys"),
        # National Day, Friday 2027-10-01, is a holiday by law whatever the notice says
        ({**TEST_2027, "rest_days": ["2027-01-01"]}, "2027-10-01 is a holiday by law"),
    ],
)
def test_a_wrong_schedule_file_is_refused_with_its_name(data: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=r"^2027\.toml: ") as refused:
        YearSchedule.from_mapping(data, "2027.toml")
    assert says in str(refused.value)


def test_two_schedules_for_one_year_are_refused() -> None:
    one = YearSchedule.from_mapping(TEST_2027, "a.toml")
    other = YearSchedule.from_mapping(TEST_2027, "b.toml")
    with pytest.raises(ValueError, match="two schedules for 2027"):
        with_operator_files([one, other])
