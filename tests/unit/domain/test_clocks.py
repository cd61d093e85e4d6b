"""Suspension, resumption, extensions and the system clock's red lights, through the lifecycle.

Real 2020 dates: the National Day holidays (Oct 1-8) and the make-up working days (Sun Sep 27,
Sat Oct 10) are in the counts. A complaint accepted on Fri 2020-09-25 must be replied to within
15 working days: by Thu 2020-10-22.
"""

from dataclasses import replace
from datetime import date, datetime

import pytest

from events import calendar
from events.calendar import YearSchedule, with_operator_files
from events.deadlines import DEFAULT_RULES, ClockRule, DayCount, Light
from events.decide import evolve, fold
from events.errors import Rejection, RejectionCode
from events.officers import SYSTEM_CLOCK_ID
from events.state import CaseState
from tests.unit.domain.support import (
    ACCEPT_COMPLAINT,
    CASE_ID,
    CITY_GOV,
    CITY_XF,
    ENFORCER,
    ENFORCER_2,
    LEGAL_REVIEWER,
    MEDIATOR,
    PETITION_OFFICER,
    REGISTER_COMPLAINT,
    REVIEWER,
    SECOND_REVIEWER,
    SUPERVISOR,
    SYSTEM,
    Action,
    actor,
    china,
    due,
    example,
    on_duty,
    refuse,
    run,
    submit,
    take,
)

ASSIGN = Action("complaint.assign", PETITION_OFFICER, china(2020, 9, 28), {"department": "信访办"})
INVESTIGATE = Action(
    "complaint.investigate", PETITION_OFFICER, china(2020, 9, 29), {"findings": "f"}
)
REPLY = Action(
    "complaint.reply", PETITION_OFFICER, china(2020, 9, 30), {"reply": "r", "method": "phone"}
)
OFFICER = actor(PETITION_OFFICER)


def complaint() -> CaseState:
    return run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT])[0]


def suspend(state: CaseState, at: datetime, who: str = PETITION_OFFICER) -> CaseState:
    return take(state, Action("case.suspend", who, at, {"reason": "当事人申请中止"}))[0]


def resume(state: CaseState, at: datetime, who: str = PETITION_OFFICER) -> CaseState:
    return take(state, Action("case.resume", who, at, {"note": "中止情形消除"}))[0]


def signal(
    state: CaseState, kind: str, clock: str, at: datetime
) -> tuple[CaseState, str] | RejectionCode:
    """Ask the system clock to record a warning or a breach: the new state, or the code."""
    step = f"case.record_deadline_{kind}"
    result = submit(state, step, {"clock": clock}, actor=SYSTEM, occurred_at=at)
    if isinstance(result, Rejection):
        return result.code
    (event,) = result
    assert event.actor.officer_id == SYSTEM_CLOCK_ID
    return evolve(state, event), event.type


# --- suspension and resumption ------------------------------------------------------------------


def test_suspension_freezes_the_light_and_resumption_moves_the_due_day() -> None:
    state = complaint()
    assert due(state, "complaint.reply") == date(2020, 10, 22)
    assert state.light(china(2020, 11, 30)) is Light.RED  # it would be red by then
    state = suspend(state, china(2020, 10, 12))  # Monday
    assert state.status == "suspended"
    assert state.suspended_from == "accepted"
    clock = state.clock("complaint.reply")
    assert clock is not None
    assert clock.paused_since == china(2020, 10, 12)
    assert state.light(china(2020, 11, 30)) is Light.GREEN  # frozen as it was on Oct 12
    state = resume(state, china(2020, 10, 19))  # Monday again: 5 working days later
    assert state.status == "accepted"
    assert state.suspended_from is None
    clock = state.clock("complaint.reply")
    assert clock is not None
    assert clock.paused_since is None
    assert clock.paused_units == 5
    assert due(state, "complaint.reply") == date(2020, 10, 29)


def test_suspension_pauses_every_running_clock() -> None:
    # a second, calendar-day clock started by the same acceptance: both pause and resume
    extra = ClockRule(
        name="complaint.first_contact",
        case_type="complaint",
        title="联系投诉人 / Contact the complainant",
        length=10,
        unit=DayCount.CALENDAR,
        starts_on="complaint.accepted",
        stops_on=frozenset({"complaint.investigated"}),
        source="test",
    )
    rules = (*DEFAULT_RULES, extra)
    _, events = run(
        [
            REGISTER_COMPLAINT,
            ACCEPT_COMPLAINT,
            Action("case.suspend", PETITION_OFFICER, china(2020, 9, 28), {"reason": "中止"}),
            Action("case.resume", PETITION_OFFICER, china(2020, 10, 12), {"note": "恢复"}),
        ]
    )
    suspended = fold(events[:3], rules)
    assert suspended is not None
    assert [c.rule for c in suspended.clocks] == ["complaint.reply", "complaint.first_contact"]
    assert all(c.paused_since == china(2020, 9, 28) for c in suspended.clocks)
    # first_contact, due Fri Oct 9 (Oct 5 is a holiday), was yellow on Sep 28: it stays so
    assert suspended.light(china(2020, 12, 31)) is Light.YELLOW
    resumed = fold(events, rules)
    assert resumed is not None
    assert all(c.paused_since is None for c in resumed.clocks)
    first_contact = resumed.clock("complaint.first_contact")
    reply = resumed.clock("complaint.reply")
    assert first_contact is not None
    assert reply is not None
    assert first_contact.paused_units == 14  # calendar days from Sep 28 to Oct 12
    assert first_contact.due_day() == date(2020, 10, 19)  # Sep 25 + 10 + 14 days
    # working days after Sep 28 up to Oct 12: Sep 29, 30, Oct 9, Sat Oct 10 (make-up), Oct 12
    assert reply.paused_units == 5
    assert reply.due_day() == date(2020, 10, 29)


@pytest.mark.parametrize(
    ("steps", "who"),
    [
        pytest.param([REGISTER_COMPLAINT], PETITION_OFFICER, id="complaint-registered"),
        pytest.param(
            [REGISTER_COMPLAINT, ACCEPT_COMPLAINT, ASSIGN, INVESTIGATE],
            PETITION_OFFICER,
            id="complaint-investigated",
        ),
        pytest.param(
            [
                example("mediation.accept", MEDIATOR, china(2020, 9, 1)),
                Action(
                    "mediation.assign_mediator",
                    MEDIATOR,
                    china(2020, 9, 2),
                    {"mediator_id": MEDIATOR},
                ),
                Action("mediation.hold_session", MEDIATOR, china(2020, 9, 3), {"notes": "n"}),
            ],
            MEDIATOR,
            id="mediation-in-session",
        ),
        pytest.param(
            [
                example("enforcement.register_source", ENFORCER, china(2020, 9, 1)),
                example("enforcement.file", ENFORCER, china(2020, 9, 2)),
                example("enforcement.collect_evidence", ENFORCER, china(2020, 9, 3)),
                Action(
                    "enforcement.review",
                    ENFORCER,
                    china(2020, 9, 4),
                    {"opinion": "o", "major": True},
                ),
                Action(
                    "enforcement.record_legal_review",
                    LEGAL_REVIEWER,
                    china(2020, 9, 7),
                    {"approved": True, "opinion": "同意"},
                ),
                example("enforcement.notify_party", ENFORCER, china(2020, 9, 8)),
                Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 9)),
            ],
            ENFORCER,
            id="hearing-requested",
        ),
    ],
)
def test_resumption_returns_to_the_exact_previous_status(steps: list[Action], who: str) -> None:
    before, _ = run(steps)
    state = suspend(before, china(2020, 9, 30), who)
    assert state.status == "suspended"
    assert state.suspended_from == before.status
    state = resume(state, china(2020, 10, 9), who)
    assert state.status == before.status
    assert state.suspended_from is None
    assert state.major == before.major
    assert state.legal_review_approved == before.legal_review_approved


@pytest.mark.parametrize(
    ("step", "payload"),
    [
        ("complaint.assign", {"department": "信访办"}),
        ("complaint.close", None),
        ("case.transfer", {"to_department": "综治中心", "reason": "r"}),
        ("case.extend", {"clock": "complaint.reply", "days": 1, "reason": "r"}),
        ("case.suspend", {"reason": "再次中止"}),
    ],
)
def test_while_suspended_ordinary_steps_are_illegal(
    step: str, payload: dict[str, object] | None
) -> None:
    state = suspend(complaint(), china(2020, 10, 12))
    ordinary = Action(step, OFFICER, china(2020, 10, 13), payload)
    refuse(state, ordinary, RejectionCode.ILLEGAL_TRANSITION, step, "'suspended'", CASE_ID)


def test_while_suspended_documents_and_supervision_notes_are_recorded() -> None:
    state = suspend(complaint(), china(2020, 10, 12))
    state, event = take(state, example("case.attach_document", OFFICER, china(2020, 10, 13)))
    assert event.type == "case.document_attached"
    note = {"note": "请尽快恢复办理"}
    state, event = take(
        state, Action("case.note_supervision", SUPERVISOR, china(2020, 10, 14), note)
    )
    assert event.type == "case.supervision_noted"
    assert state.status == "suspended"
    assert state.suspended_from == "accepted"


def test_resuming_a_case_that_is_not_suspended_is_illegal() -> None:
    resume = Action("case.resume", OFFICER, china(2020, 10, 13))
    refuse(complaint(), resume, RejectionCode.ILLEGAL_TRANSITION, "case.resume", "suspended")


# --- extensions ---------------------------------------------------------------------------------


def test_extension_moves_petition_handling_by_the_days_granted() -> None:
    def extend(days: int, reason: str, at: datetime) -> Action:
        payload = {"clock": "petition.handling", "days": days, "reason": reason}
        return Action("case.extend", PETITION_OFFICER, at, payload)

    state, _ = run(
        [
            example("petition.register", PETITION_OFFICER, china(2020, 5, 29)),
            Action("petition.accept", PETITION_OFFICER, china(2020, 6, 1)),
        ]
    )
    assert due(state, "petition.handling") == date(2020, 7, 31)
    state, event = take(state, extend(14, "情况复杂，经负责人批准", china(2020, 7, 20)))
    assert event.type == "case.deadline_extended"
    assert state.status == "accepted"
    assert due(state, "petition.handling") == date(2020, 8, 14)
    state, _ = take(state, extend(16, "再次延期", china(2020, 8, 10)))
    # 2020-06-01 + 90 days is Sunday 2020-08-30: the period ends on Monday 2020-08-31
    assert due(state, "petition.handling") == date(2020, 8, 31)


# --- the system clock ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "too_early", "light", "in_time", "event_type", "recorded", "again"),
    [
        pytest.param(
            "warning",
            china(2020, 10, 16),  # Fri Oct 16: 4 working days left, green
            "green",
            china(2020, 10, 19),  # 3 left: yellow
            "case.deadline_warning_recorded",
            "complaint.reply:yellow:2020-09-25+15w",
            china(2020, 10, 20),
            id="warning-when-yellow",
        ),
        pytest.param(
            "breach",
            china(2020, 10, 22, 23, 59),  # the last minute of the due day is still yellow
            "yellow",
            china(2020, 10, 23, 0, 0),
            "case.deadline_breached",
            "complaint.reply:red:2020-09-25+15w",
            china(2020, 10, 26),
            id="breach-when-red",
        ),
    ],
)
def test_a_signal_only_in_its_light_and_only_once(
    kind: str,
    too_early: datetime,
    light: str,
    in_time: datetime,
    event_type: str,
    recorded: str,
    again: datetime,
) -> None:
    def record(at: datetime) -> Action:
        return Action(f"case.record_deadline_{kind}", SYSTEM, at, {"clock": "complaint.reply"})

    state = complaint()
    illegal = RejectionCode.ILLEGAL_TRANSITION
    refuse(state, record(too_early), illegal, light, "2020-10-22")
    signalled = signal(state, kind, "complaint.reply", in_time)
    assert isinstance(signalled, tuple)
    state, signalled_type = signalled
    assert signalled_type == event_type
    assert state.signals == frozenset({recorded})
    assert state.status == "accepted"
    refuse(state, record(again), illegal, "already recorded", CASE_ID)


def test_a_warning_not_recorded_in_time_may_still_be_recorded_once_the_light_is_red() -> None:
    breached = signal(complaint(), "breach", "complaint.reply", china(2020, 10, 23, 0, 0))
    assert isinstance(breached, tuple)
    warned = signal(breached[0], "warning", "complaint.reply", china(2020, 10, 26))
    assert isinstance(warned, tuple)
    assert warned[0].signals == frozenset(
        {"complaint.reply:red:2020-09-25+15w", "complaint.reply:yellow:2020-09-25+15w"}
    )


def test_no_signal_on_a_clock_that_is_not_running() -> None:
    state = complaint()
    breach = Action(
        "case.record_deadline_breach", SYSTEM, china(2020, 12, 1), {"clock": "petition.handling"}
    )
    refuse(state, breach, RejectionCode.ILLEGAL_TRANSITION, "petition.handling", "not running")
    # the reply stops the reply clock: no red light after it, however late
    state, _ = run([ASSIGN, INVESTIGATE, REPLY], state)
    assert state.clocks == ()
    assert signal(state, "breach", "complaint.reply", china(2020, 12, 1)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )


def test_no_signal_on_a_closed_case() -> None:
    state, _ = run(
        [
            REGISTER_COMPLAINT,
            Action("complaint.not_accept", PETITION_OFFICER, china(2020, 9, 25), {"reason": "r"}),
        ]
    )
    assert signal(state, "warning", "complaint.reply", china(2020, 12, 1)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )


def test_a_suspended_clock_keeps_the_light_it_had() -> None:
    state = suspend(complaint(), china(2020, 10, 20))  # yellow: 2 working days left
    assert state.light(china(2020, 12, 31)) is Light.YELLOW
    assert signal(state, "breach", "complaint.reply", china(2020, 12, 31)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    warned = signal(state, "warning", "complaint.reply", china(2020, 12, 31))
    assert isinstance(warned, tuple)
    assert warned[0].status == "suspended"


def test_enforcement_filing_breach_in_working_days() -> None:
    state, _ = run([example("enforcement.register_source", ENFORCER, china(2020, 9, 1))])
    assert due(state, "enforcement.filing") == date(2020, 9, 22)
    assert signal(state, "breach", "enforcement.filing", china(2020, 9, 22, 18, 0)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    breached = signal(state, "breach", "enforcement.filing", china(2020, 9, 23, 8, 0))
    assert isinstance(breached, tuple)
    # filing stops the filing clock and starts the decision clock
    state, _ = run([example("enforcement.file", ENFORCER, china(2020, 9, 24))], breached[0])
    assert [c.rule for c in state.clocks] == ["enforcement.decision"]


# --- the deadlines of complaints and petitions -------------------------------------------------


def test_complaint_acceptance_breached_after_seven_working_days() -> None:
    state, _ = run([REGISTER_COMPLAINT])  # Thu 2020-09-24: due Sat 2020-10-10 (a make-up day)
    assert due(state, "complaint.acceptance") == date(2020, 10, 10)
    assert signal(state, "breach", "complaint.acceptance", china(2020, 10, 10, 18)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    breached = signal(state, "breach", "complaint.acceptance", china(2020, 10, 11, 8))
    assert isinstance(breached, tuple)
    assert breached[0].signals == frozenset({"complaint.acceptance:red:2020-09-24+7w"})
    # the acceptance stops it and starts the reply clock
    state, _ = run([ACCEPT_COMPLAINT], state)
    assert [c.rule for c in state.clocks] == ["complaint.reply"]


def _before_the_second_review(received: date, requested: datetime) -> CaseState:
    """A petition of 信访办, reviewed by 中山市信访局, whose second review 中山市人民政府 was asked
    for at ``requested`` (the petitioner received the review opinion on ``received``)."""
    who = {"reviewing_department": CITY_GOV, "reason": "对复查意见不服"}
    return run(
        [
            example("petition.register", PETITION_OFFICER, china(received.year, 1, 6)),
            Action("petition.accept", PETITION_OFFICER, china(received.year, 1, 7)),
            Action(
                "petition.handle", PETITION_OFFICER, china(received.year, 1, 8), {"record": "r"}
            ),
            Action(
                "petition.issue_opinion",
                PETITION_OFFICER,
                china(received.year, 1, 9),
                {"opinion": "o"},
            ),
            Action(
                "petition.record_reply_receipt",
                PETITION_OFFICER,
                china(received.year, 1, 10),
                {"received_on": f"{received.year}-01-10", "method": "直接送达"},
            ),
            Action(
                "petition.request_review",
                REVIEWER,
                china(received.year, 1, 20),
                {"reviewing_department": CITY_XF, "reason": "不服"},
            ),
            Action(
                "petition.decide_review",
                REVIEWER,
                china(received.year, 2, 10),
                {"outcome": "upheld", "opinion": "维持"},
            ),
            Action(
                "petition.record_reply_receipt",
                REVIEWER,
                china(received.year, received.month, received.day, 10),
                {"received_on": received.isoformat(), "method": "邮寄送达"},
            ),
            Action("petition.request_second_review", SECOND_REVIEWER, requested, who),
        ]
    )[0]


def test_the_second_review_clock_stands_still_through_the_hearing_and_a_suspension() -> None:
    state = _before_the_second_review(date(2020, 2, 11), china(2020, 3, 2))
    assert due(state, "petition.second_review") == date(2020, 4, 1)
    hearing = Action("petition.schedule_hearing", SECOND_REVIEWER, china(2020, 3, 10), {})
    state, _ = take(state, hearing)
    # the owner (信访办) suspends the case while the hearing is under way
    state = suspend(state, china(2020, 3, 12))
    clock = state.clock("petition.second_review")
    assert clock is not None
    assert clock.paused_by == frozenset({"petition.hearing_scheduled", "case.suspended"})
    assert clock.paused_since == china(2020, 3, 10)
    state = resume(state, china(2020, 3, 16))
    assert state.status == "second_review_hearing"
    clock = state.clock("petition.second_review")
    assert clock is not None
    assert clock.paused_by == frozenset({"petition.hearing_scheduled"})  # still the hearing
    state, _ = take(
        state,
        Action(
            "petition.conclude_hearing", SECOND_REVIEWER, china(2020, 3, 20), {"record": "听证"}
        ),
    )
    clock = state.clock("petition.second_review")
    assert clock is not None
    assert (clock.paused_since, clock.paused_units) == (None, 10)  # Mar 10 to Mar 20, once
    assert due(state, "petition.second_review") == date(2020, 4, 13)  # Sat Apr 11 + 10 → Mon


def test_a_review_clock_into_2027_waits_for_the_state_council_notice() -> None:
    closed = run(
        [
            example("petition.register", PETITION_OFFICER, china(2026, 10, 12)),
            Action("petition.accept", PETITION_OFFICER, china(2026, 10, 13)),
            Action("petition.handle", PETITION_OFFICER, china(2026, 11, 2), {"record": "r"}),
            Action(
                "petition.issue_opinion", PETITION_OFFICER, china(2026, 11, 20), {"opinion": "o"}
            ),
            Action("petition.close", PETITION_OFFICER, china(2026, 11, 20, 16)),
            Action(
                "petition.record_reply_receipt",
                PETITION_OFFICER,
                china(2026, 11, 23),
                {"received_on": "2026-11-23", "method": "直接送达"},
            ),
        ]
    )[0]
    ask = Action(
        "petition.request_review",
        REVIEWER,
        china(2026, 12, 10),  # the review opinion would be due on 2027-01-09
        {"reviewing_department": CITY_XF, "reason": "不服"},
    )
    refuse(closed, ask, RejectionCode.CALENDAR_NOT_COVERED, "2027")
    # in time by 2026-12-23, whatever 2027 holds: only the review's own clock needs 2027
    notice = {"year": 2027, "notice": "测试 / test", "rest_days": ["2027-01-01", "2027-10-01"]}
    previous = calendar.use(with_operator_files([YearSchedule.from_mapping(notice, "t.toml")]))
    try:
        state, _ = take(closed, ask)
        assert due(state, "petition.review") == date(2027, 1, 11)  # Sat 2027-01-09 → Monday
    finally:
        calendar.use(previous)


# --- enforcement: extensions, service, publication ----------------------------------------------

ENFORCEMENT_FILED = [
    example("enforcement.register_source", ENFORCER, china(2020, 9, 1)),
    example("enforcement.file", ENFORCER, china(2020, 9, 3)),
]


def extend(clock: str, days: int, at: datetime) -> Action:
    return Action(
        "case.extend", ENFORCER, at, {"clock": clock, "days": days, "reason": "负责人批准"}
    )


def test_the_filing_clock_may_be_extended_by_fifteen_working_days() -> None:
    state, _ = run(ENFORCEMENT_FILED[:1])
    refuse(
        state,
        extend("enforcement.filing", 16, china(2020, 9, 18)),
        RejectionCode.LIMIT_EXCEEDED,
        "15 more day(s)",
    )
    state, _ = run([extend("enforcement.filing", 15, china(2020, 9, 18))], state)
    assert due(state, "enforcement.filing") == date(2020, 10, 19)  # not 2020-09-22


def test_the_decision_clock_extended_by_the_head_then_further_by_the_heads() -> None:
    state, _ = run(ENFORCEMENT_FILED)
    further = Action(
        "enforcement.decide_further_extension",
        ENFORCER,
        china(2020, 11, 30),
        {
            "participants": ["陈局长", "李副局长", "张副局长"],
            "conclusion": "继续延期二十日",
            "days": 20,
            "reason": "案情特别复杂",
        },
    )
    # the heads decide a further extension only once the head's 30 days are granted
    refuse(state, further, RejectionCode.ILLEGAL_TRANSITION, "30 day(s)", "第六十四条")
    state, _ = run([extend("enforcement.decision", 30, china(2020, 11, 27))], state)
    assert due(state, "enforcement.decision") == date(2021, 1, 4)  # 120 days: past New Year
    refuse(
        state,
        extend("enforcement.decision", 1, china(2020, 11, 30)),
        RejectionCode.LIMIT_EXCEEDED,
    )
    state, event = take(state, further)
    assert event.type == "enforcement.further_extension_decided"
    clock = state.clock("enforcement.decision")
    assert clock is not None
    assert (clock.extended_by, clock.further_extended_by) == (30, 20)
    assert due(state, "enforcement.decision") == date(2021, 1, 21)  # 140 days


def test_the_decision_is_served_within_seven_days_or_the_light_turns_red() -> None:
    state, _ = run(
        [
            *ENFORCEMENT_FILED,
            example(
                "enforcement.collect_evidence",
                ENFORCER,
                china(2020, 9, 10),
                officers=on_duty(ENFORCER_2),
            ),
            Action(
                "enforcement.review", ENFORCER, china(2020, 9, 15), {"opinion": "o", "major": False}
            ),
            example("enforcement.notify_party", ENFORCER, china(2020, 9, 17)),
            example("enforcement.decide", ENFORCER, china(2020, 9, 25)),
        ]
    )
    # Fri 2020-09-25 + 7 days is Fri Oct 2, a holiday: served by Fri Oct 9
    assert due(state, "enforcement.service") == date(2020, 10, 9)
    # published within twenty working days, the make-up Sunday and Saturday counted
    assert due(state, "enforcement.publication") == date(2020, 10, 29)
    on_time = signal(state, "breach", "enforcement.service", china(2020, 10, 9, 23, 0))
    assert on_time is RejectionCode.ILLEGAL_TRANSITION
    breached = signal(state, "breach", "enforcement.service", china(2020, 10, 10, 8, 0))
    assert isinstance(breached, tuple)
    serve = Action(
        "enforcement.serve_decision", ENFORCER, china(2020, 10, 10, 9, 0), {"method": "邮寄送达"}
    )
    state, _ = take(breached[0], serve)
    assert [c.rule for c in state.clocks] == ["enforcement.publication", "enforcement.payment"]
    assert due(state, "enforcement.payment") == date(2020, 10, 26)  # fifteen days from receipt


def test_a_restarted_or_further_extended_deadline_lights_up_again() -> None:
    """A signal belongs to one period of a clock: a clock started afresh (a reopened complaint)
    or extended by the heads' collective decision has a new due day, and its lights are new."""
    state = complaint()
    breached = signal(state, "breach", "complaint.reply", china(2020, 10, 23))
    assert isinstance(breached, tuple)
    reopened, _ = run(
        [
            replace(ASSIGN, at=china(2020, 10, 24)),
            replace(INVESTIGATE, at=china(2020, 10, 24)),
            replace(REPLY, at=china(2020, 10, 26)),
            Action("complaint.close", PETITION_OFFICER, china(2020, 10, 27)),
            Action("case.reopen", PETITION_OFFICER, china(2020, 11, 2), {"reason": "再次反映"}),
        ],
        breached[0],
    )
    assert due(reopened, "complaint.reply") == date(2020, 11, 23)
    for kind in ("warning", "breach"):
        again = signal(reopened, kind, "complaint.reply", china(2020, 11, 24))
        assert isinstance(again, tuple), kind
    # the decision clock: breached after the head's 30 days, then extended by the heads
    state, _ = run([*ENFORCEMENT_FILED, extend("enforcement.decision", 30, china(2020, 11, 27))])
    breached = signal(state, "breach", "enforcement.decision", china(2021, 1, 5))
    assert isinstance(breached, tuple)
    further = example("enforcement.decide_further_extension", ENFORCER, china(2021, 1, 6), days=20)
    state, _ = take(breached[0], further)
    assert due(state, "enforcement.decision") == date(2021, 1, 21)
    assert signal(state, "breach", "enforcement.decision", china(2021, 1, 8)) is (
        RejectionCode.ILLEGAL_TRANSITION  # green again
    )
    again = signal(state, "breach", "enforcement.decision", china(2021, 1, 22))
    assert isinstance(again, tuple)
    assert signal(again[0], "breach", "enforcement.decision", china(2021, 1, 25)) is (
        RejectionCode.ILLEGAL_TRANSITION  # once per period
    )


def test_a_suspension_the_calendar_cannot_count_never_stops_a_fold() -> None:
    """A complaint suspended in December 2026 and resumed in January 2027, decided with the
    operator's 2027 schedule: folded where that schedule is missing (a projector or an auditor's
    replay without the file), the fold goes on and the due day is unknown, never guessed; with
    the schedule it is the day decided."""
    notice = {"year": 2027, "notice": "测试 / test", "rest_days": ["2027-01-01", "2027-10-01"]}
    previous = calendar.use(with_operator_files([YearSchedule.from_mapping(notice, "t.toml")]))
    try:
        state, events = run(
            [
                example("complaint.register", PETITION_OFFICER, china(2026, 11, 30)),
                Action("complaint.accept", PETITION_OFFICER, china(2026, 12, 1)),
                Action("case.suspend", PETITION_OFFICER, china(2026, 12, 10), {"reason": "r"}),
                Action("case.resume", PETITION_OFFICER, china(2027, 1, 6), {"note": "n"}),
            ]
        )
        decided = due(state, "complaint.reply")
    finally:
        calendar.use(previous)
    assert decided == date(2027, 1, 18)  # 18 working days stood still (New Year's Day off)
    # without the schedule the decider refuses the resumption…
    suspended = fold(events[:3])
    assert suspended is not None
    resumption = Action("case.resume", PETITION_OFFICER, china(2027, 1, 6), {"note": "n"})
    refuse(suspended, resumption, RejectionCode.CALENDAR_NOT_COVERED, "2027")
    # …and a fold of the resumption it accepted with the schedule goes on
    folded = fold(events)
    assert folded is not None
    clock = folded.clock("complaint.reply")
    assert clock is not None
    assert clock.counted_due_day() is None
    assert clock.light(china(2027, 1, 7)) is Light.UNKNOWN
    previous = calendar.use(with_operator_files([YearSchedule.from_mapping(notice, "t.toml")]))
    try:
        assert clock.due_day() == decided
    finally:
        calendar.use(previous)


def test_a_signal_on_a_clock_the_rules_no_longer_run_still_folds() -> None:
    """Time limits are configuration: a deployment that drops or renames a rule still folds
    the warnings and breaches recorded under it (evolve never raises on an accepted event)."""
    state, events = run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT])
    breached = signal(state, "breach", "complaint.reply", china(2020, 10, 23))
    assert isinstance(breached, tuple)
    result = submit(
        state,
        "case.record_deadline_breach",
        {"clock": "complaint.reply"},
        actor=SYSTEM,
        occurred_at=china(2020, 10, 23),
    )
    assert not isinstance(result, Rejection)
    without = tuple(rule for rule in DEFAULT_RULES if rule.name != "complaint.reply")
    folded = fold([*events, *result], without)
    assert folded is not None
    assert (folded.version, folded.clocks, folded.signals) == (3, (), frozenset())


def test_an_extension_granted_under_an_older_rule_still_folds() -> None:
    """An extension the decider granted stays granted when the history is folded with a rule
    that now allows less (or none): the fold honours the record instead of failing."""
    extension = {"clock": "petition.handling", "days": 30, "reason": "情况复杂，经负责人批准"}
    _, events = run(
        [
            example("petition.register", PETITION_OFFICER, china(2020, 5, 29)),
            Action("petition.accept", PETITION_OFFICER, china(2020, 6, 1)),
            Action("case.extend", PETITION_OFFICER, china(2020, 7, 20), extension),
        ]
    )
    stricter = tuple(
        rule.model_copy(update={"extendable_by": 0}) if rule.name == "petition.handling" else rule
        for rule in DEFAULT_RULES
    )
    folded = fold(events, stricter)
    assert folded is not None
    assert due(folded, "petition.handling") == date(2020, 8, 31)  # 90 days, as granted
