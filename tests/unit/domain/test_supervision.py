"""Supervision notes (督办) and their answers: a clock per note, due on the note's reply-by date
or after the town's default, stopped only by that note's answer, on open and closed cases."""

from dataclasses import replace
from datetime import date

import pytest

from events.deadlines import DEFAULT_RULES, ClockRule, DayCount, Light, rule_name, start_clock
from events.errors import RejectionCode
from events.lifecycles import LIFECYCLES
from events.model import CaseType
from events.state import CaseState
from tests.unit.domain.support import (
    ACCEPT_COMPLAINT,
    ENFORCER,
    MEDIATOR,
    OTHER_OFFICER,
    PETITION_OFFICER,
    PETITION_OFFICER_2,
    REGISTER_COMPLAINT,
    SUPERVISOR,
    SYSTEM,
    Action,
    china,
    due,
    example,
    refuse,
    run,
    take,
)

ANSWER = "case.supervision_answer"
REPLY = "complaint.reply"


def note(at: date, respond_by: str | None = None, text: str = "请报送办理进展") -> Action:
    payload: dict[str, object] = {"note": text}
    if respond_by is not None:
        payload["respond_by"] = respond_by
    return Action("case.note_supervision", SUPERVISOR, china(at.year, at.month, at.day), payload)


def answer(version: int, at: date, who: str = PETITION_OFFICER) -> Action:
    payload = {"note_version": version, "answer": "已约谈双方，预计月底前办结"}
    return Action("case.answer_supervision", who, china(at.year, at.month, at.day, 15), payload)


def complaint() -> CaseState:
    """Registered (version 1) and accepted (version 2) on 2020-09-24/25: notes start at 3."""
    return run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT])[0]


def clocks(state: CaseState) -> list[str]:
    return [c.rule for c in state.clocks]


# --- the clock of one note ----------------------------------------------------------------------


def test_a_note_with_a_reply_by_date_is_due_that_day() -> None:
    state, event = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    assert event.version == 3
    assert clocks(state) == [REPLY, f"{ANSWER}#3"]
    assert due(state, f"{ANSWER}#3") == date(2020, 10, 20)
    assert state.awaiting_answer() == {3}
    clock = state.clock(f"{ANSWER}#3")
    assert clock is not None
    assert clock.light(china(2020, 10, 20, 23, 59)) is Light.YELLOW
    assert clock.light(china(2020, 10, 21, 0, 1)) is Light.RED


def test_a_note_without_a_date_is_due_after_the_default_working_days() -> None:
    # 5 working days after Tue 2020-09-29: Sep 30, (Oct 1-8 National Day), Fri Oct 9, Sat Oct 10
    # (a make-up working day), Mon Oct 12, Tue Oct 13
    state, _ = take(complaint(), note(date(2020, 9, 29)))
    assert due(state, f"{ANSWER}#3") == date(2020, 10, 13)


def test_a_reply_by_date_on_a_rest_day_moves_to_the_next_working_day() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-18"))  # a Sunday
    assert due(state, f"{ANSWER}#3") == date(2020, 10, 19)


def test_a_reply_by_date_today_is_due_today_and_one_before_the_note_is_refused() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-09-28"))
    assert due(state, f"{ANSWER}#3") == date(2020, 9, 28)
    refuse(
        complaint(),
        note(date(2020, 9, 28), "2020-09-27"),
        RejectionCode.INVALID_PAYLOAD,
        "respond_by 2020-09-27",
        "2020-09-28",
    )


def test_the_answer_stops_the_clock_of_its_note() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    state, event = take(state, answer(3, date(2020, 10, 16)))
    assert event.type == "case.supervision_answered"
    assert event.payload == {"note_version": 3, "answer": "已约谈双方，预计月底前办结"}
    assert event.department == "信访办"
    assert clocks(state) == [REPLY]
    assert state.awaiting_answer() == frozenset()
    assert state.status == "accepted"


def test_a_late_answer_is_still_recorded_after_the_breach() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-09"))
    breach = Action(
        "case.record_deadline_breach", SYSTEM, china(2020, 10, 10), {"clock": f"{ANSWER}#3"}
    )
    state, event = take(state, breach)
    assert event.type == "case.deadline_breached"
    state, _ = take(state, answer(3, date(2020, 10, 14)))
    assert clocks(state) == [REPLY]
    assert state.supervision_answered == {3}


# --- several notes at once ----------------------------------------------------------------------


def test_several_notes_await_their_answers_each_on_its_own_clock() -> None:
    state, _ = run(
        [note(date(2020, 9, 28), "2020-10-20"), note(date(2020, 9, 29), "2020-10-12")],
        complaint(),
    )
    assert clocks(state) == [REPLY, f"{ANSWER}#3", f"{ANSWER}#4"]
    assert state.awaiting_answer() == {3, 4}
    state, _ = take(state, answer(4, date(2020, 10, 9)))
    assert clocks(state) == [REPLY, f"{ANSWER}#3"]
    assert due(state, f"{ANSWER}#3") == date(2020, 10, 20)
    state, _ = take(state, answer(3, date(2020, 10, 12)))
    assert clocks(state) == [REPLY]


def test_an_answer_names_a_note_of_the_case_not_yet_answered() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    refuse(
        state,
        answer(2, date(2020, 9, 29)),
        RejectionCode.INVALID_PAYLOAD,
        "version 2",
        "not a supervision note",
        "its notes: 3",
    )
    refuse(
        complaint(), answer(3, date(2020, 9, 29)), RejectionCode.INVALID_PAYLOAD, "its notes: none"
    )
    state, _ = take(state, answer(3, date(2020, 9, 29)))
    refuse(
        state, answer(3, date(2020, 9, 30)), RejectionCode.ILLEGAL_TRANSITION, "already answered"
    )


# --- who answers ----------------------------------------------------------------------------------


def test_the_owning_department_answers_not_the_supervisor_nor_another_department() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    refuse(
        state,
        answer(3, date(2020, 9, 29), who=SUPERVISOR),
        RejectionCode.FORBIDDEN_ROLE,
        "case.answer_supervision",
    )
    refuse(state, answer(3, date(2020, 9, 29), who=OTHER_OFFICER), RejectionCode.WRONG_DEPARTMENT)
    state, event = take(state, answer(3, date(2020, 9, 29), who=PETITION_OFFICER_2))
    assert event.actor.officer_id == PETITION_OFFICER_2


def test_after_a_transfer_the_new_owner_answers() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    transfer = Action(
        "case.transfer",
        PETITION_OFFICER,
        china(2020, 9, 29),
        {"to_department": "综治中心", "reason": "属该中心职责"},
    )
    state, _ = take(state, transfer)
    refuse(state, answer(3, date(2020, 9, 30)), RejectionCode.WRONG_DEPARTMENT)
    state, _ = take(state, answer(3, date(2020, 9, 30), who=OTHER_OFFICER))
    assert clocks(state) == [REPLY]


@pytest.mark.parametrize(
    ("opening", "officer"),
    [
        (example("petition.register", PETITION_OFFICER, china(2020, 9, 24)), PETITION_OFFICER),
        (example("mediation.accept", MEDIATOR, china(2020, 9, 24)), MEDIATOR),
        (example("enforcement.register_source", ENFORCER, china(2020, 9, 24)), ENFORCER),
    ],
    ids=["petition", "mediation", "enforcement"],
)
def test_every_case_type_has_the_answer_and_its_clock(opening: Action, officer: str) -> None:
    state, _ = take(None, opening)
    assert "case.answer_supervision" in LIFECYCLES[state.case_type].by_submission
    state, _ = take(state, note(date(2020, 9, 25), "2020-10-09"))
    assert due(state, f"{ANSWER}#2") == date(2020, 10, 9)
    state, _ = take(state, answer(2, date(2020, 9, 28), who=officer))
    assert f"{ANSWER}#2" not in clocks(state)


# --- closed and suspended cases -----------------------------------------------------------------

CLOSED = [
    REGISTER_COMPLAINT,
    ACCEPT_COMPLAINT,
    Action("complaint.assign", PETITION_OFFICER, china(2020, 9, 28), {"department": "信访办"}),
    Action("complaint.investigate", PETITION_OFFICER, china(2020, 9, 29), {"findings": "属实"}),
    Action(
        "complaint.reply", PETITION_OFFICER, china(2020, 9, 30), {"reply": "r", "method": "phone"}
    ),
    Action("complaint.close", PETITION_OFFICER, china(2020, 10, 9)),
]


def test_a_note_on_a_closed_case_runs_its_clock_and_is_answered() -> None:
    closed, _ = run(CLOSED)
    state, event = take(closed, note(date(2020, 10, 12), "2020-10-16", "请总结办理经验"))
    assert state.status == "closed"
    assert state.closed_at == closed.closed_at
    assert clocks(state) == [f"{ANSWER}#7"]
    state, _ = take(state, answer(event.version, date(2020, 10, 15)))
    assert state.clocks == ()
    assert state.status == "closed"
    assert state.closed_at == closed.closed_at


def test_closing_a_case_does_not_stop_an_awaited_answer_and_the_clock_still_lights() -> None:
    noted = [*CLOSED[:-1], note(date(2020, 10, 9), "2020-10-12")]
    state, _ = run([*noted, replace(CLOSED[-1], at=china(2020, 10, 9, 16))])
    assert state.status == "closed"
    assert clocks(state) == [f"{ANSWER}#6"]
    breach = Action(
        "case.record_deadline_breach", SYSTEM, china(2020, 10, 13), {"clock": f"{ANSWER}#6"}
    )
    state, event = take(state, breach)
    assert event.type == "case.deadline_breached"
    stopped = Action("case.record_deadline_breach", SYSTEM, china(2020, 10, 13), {"clock": REPLY})
    refuse(state, stopped, RejectionCode.ILLEGAL_TRANSITION, "not running")
    state, _ = take(state, answer(6, date(2020, 10, 14)))
    assert state.clocks == ()


def test_a_suspension_pauses_the_case_s_periods_but_not_the_supervisor_s_date() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    suspend = Action("case.suspend", PETITION_OFFICER, china(2020, 9, 29), {"reason": "中止"})
    state, _ = take(state, suspend)
    reply, awaited = state.clock(REPLY), state.clock(f"{ANSWER}#3")
    assert reply is not None
    assert reply.paused_since is not None
    assert awaited is not None
    assert awaited.paused_since is None
    assert awaited.light(china(2020, 10, 21)) is Light.RED
    state, _ = take(state, answer(3, date(2020, 10, 12)))  # answered while suspended
    assert clocks(state) == [REPLY]


def test_the_supervisor_s_date_is_not_extended() -> None:
    state, _ = take(complaint(), note(date(2020, 9, 28), "2020-10-20"))
    extend = Action(
        "case.extend",
        PETITION_OFFICER,
        china(2020, 9, 29),
        {"clock": f"{ANSWER}#3", "days": 3, "reason": "需要更多时间"},
    )
    refuse(state, extend, RejectionCode.LIMIT_EXCEEDED, f"{ANSWER}#3", "0 more day(s)")


# --- the rule's extension of ClockRule ------------------------------------------------------------


def test_a_rule_with_a_clock_per_event_names_each_clock_by_its_starting_version() -> None:
    rule = next(r for r in DEFAULT_RULES if r.name == ANSWER)
    assert rule.applies_to("complaint")
    assert rule.applies_to("information_disclosure")  # every case type, present and future
    assert rule.clock_name(7) == f"{ANSWER}#7"
    assert rule_name(f"{ANSWER}#7") == ANSWER
    assert rule_name("complaint.reply") == "complaint.reply"
    fixed = start_clock(rule, china(2020, 9, 28), 7, date(2020, 10, 20))
    assert (fixed.rule, fixed.rule_name, fixed.unit, fixed.length) == (
        f"{ANSWER}#7",
        ANSWER,
        DayCount.CALENDAR,
        22,
    )
    default = start_clock(rule, china(2020, 9, 28), 7)
    assert (default.unit, default.length) == (DayCount.WORKING, 5)


def test_a_clock_per_event_is_never_restarted_and_names_have_no_separator() -> None:
    base = next(r for r in DEFAULT_RULES if r.name == ANSWER).model_dump()
    with pytest.raises(ValueError, match="never restarted"):
        ClockRule.model_validate({**base, "restarts_on": {"case.reopened"}})
    with pytest.raises(ValueError, match="name"):
        ClockRule.model_validate({**base, "name": "case.answer#1"})


def test_the_case_types_all_get_the_step() -> None:
    for case_type in CaseType:
        step = LIFECYCLES[case_type].by_submission["case.answer_supervision"]
        assert step.owner_only
        assert step.allowed_from == frozenset(LIFECYCLES[case_type].statuses)
