"""Working days, clocks and lights, checked against the real 2020 calendar.

2020 National Day and Mid-Autumn Festival: rest from Thu Oct 1 to Thu Oct 8; Sun Sep 27 and
Sat Oct 10 are make-up working days (调休).
"""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from events.calendar import (
    CHINA,
    add_calendar_days,
    add_working_days,
    calendar_days_between,
    is_working_day,
    local_day,
    working_days_between,
)
from events.deadlines import (
    DEFAULT_RULES,
    Clock,
    ClockRule,
    DayCount,
    Light,
    add_calendar_months,
    rules_by_name,
    start_clock,
    worst,
)

RULES = rules_by_name(DEFAULT_RULES)


def china(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=CHINA)


def complaint_clock() -> Clock:
    """complaint.reply (15 working days) started on Fri 2020-09-25: due Thu 2020-10-22."""
    return start_clock(RULES["complaint.reply"], china(2020, 9, 25, 9, 30))


# --- calendar -----------------------------------------------------------------------------------


def test_local_day_is_the_china_date() -> None:
    assert local_day(datetime(2020, 9, 24, 15, 59, 59, tzinfo=UTC)) == date(2020, 9, 24)
    assert local_day(datetime(2020, 9, 24, 16, 0, tzinfo=UTC)) == date(2020, 9, 25)
    assert local_day(china(2020, 9, 25, 0, 0)) == date(2020, 9, 25)


def test_local_day_rejects_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_day(datetime(2020, 9, 25, 9, 30))


def test_national_day_2020_holidays_and_make_up_days() -> None:
    assert not is_working_day(date(2020, 9, 26))  # Saturday
    assert is_working_day(date(2020, 9, 27))  # Sunday, make-up day
    for day in range(1, 9):
        assert not is_working_day(date(2020, 10, day)), day
    assert is_working_day(date(2020, 10, 9))  # Friday
    assert is_working_day(date(2020, 10, 10))  # Saturday, make-up day
    assert not is_working_day(date(2020, 10, 11))  # Sunday


def test_fifteen_working_days_across_national_day() -> None:
    # After Fri Sep 25: Sep 27 (make-up), 28, 29, 30 = 4; Oct 9, Oct 10 (make-up) = 6;
    # Oct 12-16 = 11; Oct 19, 20, 21, 22 = 15. Without the make-up days it would be Oct 26.
    assert add_working_days(date(2020, 9, 25), 15) == date(2020, 10, 22)
    assert add_working_days(date(2020, 9, 25), 1) == date(2020, 9, 27)
    assert add_working_days(date(2020, 9, 30), 1) == date(2020, 10, 9)
    assert add_working_days(date(2020, 10, 9), 1) == date(2020, 10, 10)
    assert working_days_between(date(2020, 9, 25), date(2020, 9, 27)) == 1
    assert working_days_between(date(2020, 10, 9), date(2020, 10, 11)) == 1
    assert working_days_between(date(2020, 9, 30), date(2020, 10, 8)) == 0
    assert working_days_between(date(2020, 9, 25), date(2020, 10, 22)) == 15

    clock = complaint_clock()
    assert clock.started_on == date(2020, 9, 25)
    assert clock.unit is DayCount.WORKING
    assert clock.due_day() == date(2020, 10, 22)
    assert clock.due_at() == datetime(2020, 10, 22, 16, 0, tzinfo=UTC)
    assert clock.due_at().tzinfo is UTC


def test_working_day_arithmetic_edges() -> None:
    assert add_working_days(date(2020, 10, 3), 0) == date(2020, 10, 3)
    with pytest.raises(ValueError, match="n must be >= 0"):
        add_working_days(date(2020, 10, 3), -1)
    assert working_days_between(date(2020, 10, 22), date(2020, 10, 22)) == 0
    assert working_days_between(date(2020, 10, 22), date(2020, 9, 25)) == 0


def test_calendar_days_roll_past_a_holiday() -> None:
    # Sep 20 + 15 = Mon Oct 5, a holiday: the period ends after the rest, on Fri Oct 9.
    assert add_calendar_days(date(2020, 9, 20), 15) == date(2020, 10, 9)
    # Sat Aug 1 + 29 = Sun Aug 30, an ordinary weekend: Mon Aug 31.
    assert add_calendar_days(date(2020, 8, 1), 29) == date(2020, 8, 31)
    # Sep 30 + 10 = Sat Oct 10, a make-up working day: no roll.
    assert add_calendar_days(date(2020, 9, 30), 10) == date(2020, 10, 10)
    assert add_calendar_days(date(2020, 9, 21), 3) == date(2020, 9, 24)
    with pytest.raises(ValueError, match="n must be >= 0"):
        add_calendar_days(date(2020, 9, 21), -1)
    assert calendar_days_between(date(2020, 9, 20), date(2020, 10, 5)) == 15
    assert calendar_days_between(date(2020, 10, 5), date(2020, 9, 20)) == 0


def test_calendar_day_clocks_whose_last_day_is_a_holiday() -> None:
    registered = start_clock(RULES["petition.acceptance"], china(2020, 9, 20, 15, 0))
    assert registered.due_day() == date(2020, 10, 9)
    assert registered.due_at() == datetime(2020, 10, 9, 16, 0, tzinfo=UTC)
    # Jul 3 + 90 days = Thu Oct 1 (National Day): decision due Fri Oct 9.
    filed = start_clock(RULES["enforcement.decision"], china(2020, 7, 3, 11, 0))
    assert filed.due_day() == date(2020, 10, 9)


@given(
    start=st.dates(min_value=date(2019, 1, 1), max_value=date(2021, 12, 31)),
    n=st.integers(min_value=0, max_value=60),
)
def test_working_days_round_trip(start: date, n: int) -> None:
    end = add_working_days(start, n)
    if n > 0:
        assert is_working_day(end)
        assert end > start
    else:
        assert end == start
    assert working_days_between(start, end) == n
    # No earlier day already reaches n: `end` is the first such day.
    if n > 0:
        assert working_days_between(start, end - timedelta(days=1)) == n - 1


@given(
    start=st.dates(min_value=date(2019, 1, 1), max_value=date(2021, 12, 31)),
    n=st.integers(min_value=1, max_value=120),
)
def test_calendar_period_ends_on_the_first_working_day_from_the_nominal_end(
    start: date, n: int
) -> None:
    end = add_calendar_days(start, n)
    nominal = start + timedelta(days=n)
    assert is_working_day(end)
    assert end >= nominal
    assert working_days_between(nominal - timedelta(days=1), end - timedelta(days=1)) == 0


# --- lights -------------------------------------------------------------------------------------


def test_lights_green_yellow_red_at_the_exact_boundaries() -> None:
    clock = complaint_clock()  # due Thu Oct 22, warn within 3 working days
    assert clock.warn_within == 3
    # Fri Oct 16: Oct 19, 20, 21, 22 remain.
    assert clock.remaining_working_days(china(2020, 10, 16, 18, 0)) == 4
    assert clock.light(china(2020, 10, 16, 23, 59, 59)) is Light.GREEN
    # Mon Oct 19: Oct 20, 21, 22 remain.
    assert clock.remaining_working_days(china(2020, 10, 19, 0, 0)) == 3
    assert clock.light(china(2020, 10, 19, 0, 0)) is Light.YELLOW
    # During the holiday the make-up Saturday counts: Oct 9, 10, 12-16, 19-22.
    assert clock.remaining_working_days(china(2020, 10, 7, 12, 0)) == 11
    # The due day itself: nothing remains after it, still yellow to its last instant.
    assert clock.remaining_working_days(china(2020, 10, 22, 9, 0)) == 0
    last_instant = datetime(2020, 10, 22, 23, 59, 59, 999999, tzinfo=CHINA)
    assert clock.light(last_instant) is Light.YELLOW
    assert clock.light(datetime(2020, 10, 22, 15, 59, 59, 999999, tzinfo=UTC)) is Light.YELLOW
    # The first instant of the next China day is red, however it is written.
    assert clock.light(china(2020, 10, 23, 0, 0)) is Light.RED
    assert clock.light(datetime(2020, 10, 22, 16, 0, tzinfo=UTC)) is Light.RED
    assert clock.remaining_working_days(china(2020, 10, 23, 0, 0)) == 0
    assert clock.light(china(2021, 1, 4, 9, 0)) is Light.RED


def test_light_rejects_a_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        complaint_clock().light(datetime(2020, 10, 19, 9, 0))


# --- suspension ---------------------------------------------------------------------------------


def test_suspended_working_day_clock_moves_by_the_suspended_working_days() -> None:
    clock = complaint_clock()
    paused = clock.paused(china(2020, 10, 12, 10, 0))
    assert paused.paused_since == china(2020, 10, 12, 10, 0)
    assert paused.paused_since is not None
    assert paused.paused_since.tzinfo is UTC
    # Pausing again keeps the original start of the suspension.
    assert paused.paused(china(2020, 10, 14, 10, 0)) == paused
    # Mon Oct 12 to Fri Oct 16: Oct 13, 14, 15, 16 are 4 working days suspended.
    resumed = paused.resumed(china(2020, 10, 16, 10, 0))
    assert resumed.paused_since is None
    assert resumed.paused_units == 4
    # Oct 22 + 4 working days: Oct 23, 26, 27, 28.
    assert resumed.due_day() == date(2020, 10, 28)
    assert resumed.due_at() == datetime(2020, 10, 28, 16, 0, tzinfo=UTC)
    # Mon Oct 26: Oct 27, 28 remain.
    assert resumed.light(china(2020, 10, 26, 9, 0)) is Light.YELLOW
    # Thu Oct 22, the old due day: Oct 23, 26, 27, 28 remain; the unsuspended clock is yellow.
    assert resumed.light(china(2020, 10, 22, 9, 0)) is Light.GREEN
    assert clock.light(china(2020, 10, 22, 9, 0)) is Light.YELLOW
    assert resumed.light(china(2020, 10, 23, 0, 0)) is Light.YELLOW
    assert clock.light(china(2020, 10, 23, 0, 0)) is Light.RED
    # Resuming a running clock changes nothing.
    assert resumed.resumed(china(2020, 11, 1, 10, 0)) == resumed


def test_overlapping_pauses_hold_the_clock_until_the_last_ends() -> None:
    clock = complaint_clock()
    # A correction is asked for on Mon Oct 12; the case is suspended on Wed Oct 14.
    held = clock.paused(china(2020, 10, 12, 10, 0), "correction").paused(china(2020, 10, 14, 10, 0))
    assert held.paused_by == {"correction", "case.suspended"}
    # Resuming the case on Thu Oct 15 does not restart the clock: the correction still holds it.
    still = held.resumed(china(2020, 10, 15, 10, 0))
    assert still.paused_since == china(2020, 10, 12, 10, 0)
    assert still.paused_by == {"correction"}
    # The correction arrives on Fri Oct 16: Oct 13 to 16 are 4 working days not counted.
    running = still.resumed(china(2020, 10, 16, 10, 0), "correction")
    assert (running.paused_since, running.paused_by, running.paused_units) == (None, frozenset(), 4)
    assert running.due_day() == date(2020, 10, 28)


def test_light_does_not_change_while_suspended() -> None:
    clock = complaint_clock()
    # Paused on Tue Oct 20 with Oct 21 and 22 remaining: yellow, and it stays yellow.
    paused = clock.paused(china(2020, 10, 20, 9, 0))
    for later in (
        china(2020, 10, 20, 9, 0),
        china(2020, 10, 22, 23, 59),
        china(2020, 10, 23, 0, 0),
        china(2021, 6, 1, 12, 0),
    ):
        assert paused.light(later) is Light.YELLOW, later
        assert clock.light(later) is (Light.YELLOW if later < clock.due_at() else Light.RED)
    # Paused at Mon Oct 12 (8 working days left): green however long the suspension lasts.
    early = clock.paused(china(2020, 10, 12, 10, 0))
    assert early.light(china(2020, 12, 31, 12, 0)) is Light.GREEN


def test_suspended_calendar_day_clock_moves_by_the_suspended_days() -> None:
    clock = start_clock(RULES["mediation.conclusion"], china(2020, 3, 2, 9, 0))
    assert clock.due_day() == date(2020, 4, 1)  # Mar 2 + 30 days, a Wednesday
    resumed = clock.paused(china(2020, 3, 10, 16, 0)).resumed(china(2020, 3, 17, 8, 0))
    assert resumed.paused_units == 7
    assert resumed.due_day() == date(2020, 4, 8)  # Apr 1 + 7 days, a Wednesday
    # A second suspension adds to the first: Apr 2 to Apr 7 is 5 days, Apr 13 is a Monday.
    again = resumed.paused(china(2020, 4, 2, 9, 0)).resumed(china(2020, 4, 7, 9, 0))
    assert again.paused_units == 12
    assert again.due_day() == date(2020, 4, 13)


# --- extension ----------------------------------------------------------------------------------


def test_extension_moves_the_due_day_within_the_allowance() -> None:
    clock = start_clock(RULES["petition.handling"], china(2020, 6, 1, 10, 0))
    assert clock.extendable_by == 30
    assert clock.due_day() == date(2020, 7, 31)  # Jun 1 + 60 days, a Friday
    # Jul 31 + 30 = Sun Aug 30: rolls to Mon Aug 31.
    assert clock.extended(30).due_day() == date(2020, 8, 31)
    assert clock.extended(10).due_day() == date(2020, 8, 10)
    assert clock.extended(10).extended(20) == clock.extended(30)
    with pytest.raises(ValueError, match="exceed"):
        clock.extended(31)
    with pytest.raises(ValueError, match="exceed"):
        clock.extended(10).extended(21)
    with pytest.raises(ValueError, match="positive"):
        clock.extended(0)
    with pytest.raises(ValueError, match="positive"):
        clock.extended(-5)


def test_a_rule_without_extension_cannot_be_extended() -> None:
    # enforcement.filing was this example until its +15 working days (市场监督管理行政处罚程序规定
    # 第十八条) were added: serving the decision has no extension
    clock = start_clock(RULES["enforcement.service"], china(2020, 9, 25, 9, 0))
    assert clock.due_day() == date(2020, 10, 9)  # Oct 2 is a holiday: the next working day
    with pytest.raises(ValueError, match="exceed"):
        clock.extended(1)


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        # 民法典 第二百零二条: the same day of the last month
        (date(2021, 3, 30), 3, date(2021, 6, 30)),
        # …or the month's last day when it has none, moved past a rest day (第二百零三条):
        # Sun 2021-02-28 gives Mon 2021-03-01
        (date(2020, 11, 30), 3, date(2021, 3, 1)),
        (date(2020, 8, 31), 6, date(2021, 3, 1)),
        # across the year, into a holiday: 2020-10-01 to 10-08 rest, so Fri 2020-10-09
        (date(2019, 12, 1), 10, date(2020, 10, 9)),
        (date(2020, 3, 31), 0, date(2020, 3, 31)),
    ],
)
def test_add_calendar_months(start: date, months: int, last_day: date) -> None:
    assert add_calendar_months(start, months) == last_day


def test_a_clock_in_months_moves_by_the_days_it_stood_still() -> None:
    clock = start_clock(RULES["enforcement.court_application"], china(2021, 3, 30, 10, 0))
    assert clock.unit is DayCount.MONTH
    assert clock.due_day() == date(2021, 6, 30)
    paused = clock.paused(china(2021, 4, 1, 10, 0)).resumed(china(2021, 4, 11, 10, 0))
    assert paused.paused_units == 10  # calendar days, not months
    assert paused.due_day() == date(2021, 7, 9)  # from Apr 9: ten days later than Jun 30


def test_a_collective_decision_extends_a_clock_beyond_its_rule() -> None:
    clock = start_clock(RULES["enforcement.decision"], china(2020, 7, 3, 11, 0))
    clock = clock.extended(30)
    with pytest.raises(ValueError, match="exceed"):
        clock.extended(1)
    further = clock.further_extended(20)
    assert clock.due_day() == date(2020, 11, 2)  # 120 days: Sat Oct 31, moved to Monday
    assert further.due_day() == date(2020, 11, 20)  # 140 days
    with pytest.raises(ValueError, match="positive"):
        clock.further_extended(0)


# --- rules and models ---------------------------------------------------------------------------


def test_default_rules() -> None:
    table = {
        rule.name: (rule.case_type, rule.length, rule.unit, rule.extendable_by, rule.starts_on)
        for rule in DEFAULT_RULES
    }
    assert table == {
        "petition.acceptance": ("petition", 15, DayCount.CALENDAR, 0, "petition.registered"),
        "petition.handling": ("petition", 60, DayCount.CALENDAR, 30, "petition.accepted"),
        "petition.review": ("petition", 30, DayCount.CALENDAR, 0, "petition.review_requested"),
        "petition.second_review": (
            "petition",
            30,
            DayCount.CALENDAR,
            0,
            "petition.second_review_requested",
        ),
        "complaint.acceptance": ("complaint", 7, DayCount.WORKING, 0, "complaint.registered"),
        "complaint.reply": ("complaint", 15, DayCount.WORKING, 0, "complaint.accepted"),
        "mediation.conclusion": ("mediation", 30, DayCount.CALENDAR, 0, "mediation.accepted"),
        "enforcement.filing": (
            "enforcement",
            15,
            DayCount.WORKING,
            15,
            "enforcement.source_registered",
        ),
        "enforcement.decision": ("enforcement", 90, DayCount.CALENDAR, 30, "enforcement.filed"),
        "disclosure.answer": ("disclosure", 20, DayCount.WORKING, 20, "disclosure.registered"),
        "disclosure.third_party_reply": (
            "disclosure",
            15,
            DayCount.WORKING,
            0,
            "disclosure.third_party_consulted",
        ),
        "enforcement.service": (
            "enforcement",
            7,
            DayCount.CALENDAR,
            0,
            "enforcement.decision_made",
        ),
        "enforcement.payment": (
            "enforcement",
            15,
            DayCount.CALENDAR,
            0,
            "enforcement.decision_served",
        ),
        "enforcement.publication": (
            "enforcement",
            20,
            DayCount.WORKING,
            0,
            "enforcement.decision_made",
        ),
        "enforcement.court_application": (
            "enforcement",
            3,
            DayCount.MONTH,
            0,
            "enforcement.no_appeal_recorded",
        ),
        "mediation.judicial_confirmation": (
            "mediation",
            30,
            DayCount.CALENDAR,
            0,
            "mediation.agreement_reached",
        ),
        "case.supervision_answer": ("*", 5, DayCount.WORKING, 0, "case.supervision_noted"),
    }
    # every enforcement default names its regulation and article
    assert all(
        "第" in r.source and "条" in r.source for r in DEFAULT_RULES if r.case_type == "enforcement"
    )
    assert RULES["petition.acceptance"].stops_on == {"petition.accepted", "petition.not_accepted"}
    assert RULES["mediation.conclusion"].stops_on == {
        "mediation.agreement_reached",
        "mediation.failed",
    }
    assert RULES["mediation.conclusion"].restarts_on == {"mediation.application_accepted"}
    supervision = RULES["case.supervision_answer"]
    assert (supervision.per_event, supervision.due_from) == ("note_version", "respond_by")
    assert [r.name for r in DEFAULT_RULES if not r.follows_case] == [supervision.name]
    assert all(rule.warn_within == 3 and rule.source for rule in DEFAULT_RULES)
    assert all(" / " in rule.title for rule in DEFAULT_RULES)


def test_rules_by_name_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match=r"duplicate clock rule 'complaint\.reply'"):
        rules_by_name([*DEFAULT_RULES, RULES["complaint.reply"]])


def test_rule_and_clock_validation() -> None:
    base = RULES["complaint.reply"].model_dump()
    with pytest.raises(ValidationError):
        ClockRule.model_validate({**base, "length": 0})
    with pytest.raises(ValidationError, match="both starts and stops"):
        ClockRule.model_validate({**base, "stops_on": {"complaint.accepted"}})
    clock = complaint_clock()
    with pytest.raises(ValidationError, match="only 0 allowed"):
        Clock.model_validate({**clock.model_dump(), "extended_by": 1})
    with pytest.raises(ValidationError):
        clock.paused(datetime(2020, 10, 12, 10, 0))
    with pytest.raises(ValidationError):
        clock.started_on = date(2020, 1, 1)  # type: ignore[misc]


@given(
    start=st.dates(min_value=date(2019, 1, 1), max_value=date(2021, 6, 30)),
    length=st.integers(min_value=1, max_value=90),
    unit=st.sampled_from(list(DayCount)),
    hours=st.integers(min_value=0, max_value=24 * 200),
)
@settings(max_examples=150, deadline=None, database=None)
def test_yellow_from_and_due_at_reproduce_the_light(
    start: date, length: int, unit: DayCount, hours: int
) -> None:
    """What a database computes from the two instants equals the light itself."""
    if unit is DayCount.MONTH:
        length = length % 12 + 1  # a year at most: the calendar holds 2026 and no further
    clock = Clock(
        rule="r", unit=unit, length=length, warn_within=3, extendable_by=0, started_on=start
    )
    at = datetime.combine(start, time(0), tzinfo=CHINA) + timedelta(hours=hours)
    expected = (
        Light.RED
        if at >= clock.due_at()
        else Light.YELLOW
        if at >= clock.yellow_from()
        else Light.GREEN
    )
    assert clock.light(at) == expected


def test_a_case_shows_its_worst_light() -> None:
    assert worst([Light.GREEN, Light.RED, Light.YELLOW]) is Light.RED
    assert worst(["yellow", "green"]) is Light.YELLOW  # as the database spells them
    assert worst([]) is None
