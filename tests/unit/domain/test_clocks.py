"""Suspension, resumption, extensions and the system clock's red lights, through the lifecycle.

Real 2020 dates: the National Day holidays (Oct 1-8) and the make-up working days (Sun Sep 27,
Sat Oct 10) are in the counts. A complaint accepted on Fri 2020-09-25 must be replied to within
15 working days: by Thu 2020-10-22.
"""

from datetime import date, datetime

import pytest

from events.deadlines import DEFAULT_RULES, ClockRule, DayCount, Light
from events.decide import evolve, fold
from events.errors import Rejection, RejectionCode
from events.officers import SYSTEM_CLOCK_ID
from events.state import CaseState
from tests.unit.domain.support import (
    ENFORCER,
    LEGAL_REVIEWER,
    MEDIATOR,
    PETITION_OFFICER,
    SUPERVISOR,
    SYSTEM,
    Action,
    accepted,
    actor,
    china,
    example_payload,
    rejected,
    run,
    submit,
)

REGISTER = Action(
    "complaint.register",
    PETITION_OFFICER,
    china(2020, 9, 24),
    example_payload("complaint.register"),
)
ACCEPT = Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25))
OFFICER = actor(PETITION_OFFICER)


def complaint() -> CaseState:
    return run([REGISTER, ACCEPT])[0]


def due(state: CaseState, clock: str) -> date:
    found = state.clock(clock)
    assert found is not None, f"{clock} is not running"
    return found.due_day()


def suspend(state: CaseState, at: datetime, who: str = PETITION_OFFICER) -> CaseState:
    return accepted(
        state, "case.suspend", {"reason": "当事人申请中止"}, actor=actor(who), occurred_at=at
    )[0]


def resume(state: CaseState, at: datetime, who: str = PETITION_OFFICER) -> CaseState:
    return accepted(
        state, "case.resume", {"note": "中止情形消除"}, actor=actor(who), occurred_at=at
    )[0]


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
            REGISTER,
            ACCEPT,
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
        ([REGISTER], PETITION_OFFICER),
        (
            [
                REGISTER,
                ACCEPT,
                Action(
                    "complaint.assign",
                    PETITION_OFFICER,
                    china(2020, 9, 28),
                    {"department": "信访办"},
                ),
                Action(
                    "complaint.investigate", PETITION_OFFICER, china(2020, 9, 29), {"findings": "f"}
                ),
            ],
            PETITION_OFFICER,
        ),
        (
            [
                Action(
                    "mediation.accept",
                    MEDIATOR,
                    china(2020, 9, 1),
                    example_payload("mediation.accept"),
                ),
                Action(
                    "mediation.assign_mediator",
                    MEDIATOR,
                    china(2020, 9, 2),
                    {"mediator_id": MEDIATOR},
                ),
                Action("mediation.hold_session", MEDIATOR, china(2020, 9, 3), {"notes": "n"}),
            ],
            MEDIATOR,
        ),
        (
            [
                Action(
                    "enforcement.register_source",
                    ENFORCER,
                    china(2020, 9, 1),
                    example_payload("enforcement.register_source"),
                ),
                Action(
                    "enforcement.file",
                    ENFORCER,
                    china(2020, 9, 2),
                    example_payload("enforcement.file"),
                ),
                Action(
                    "enforcement.collect_evidence",
                    ENFORCER,
                    china(2020, 9, 3),
                    example_payload("enforcement.collect_evidence"),
                ),
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
                Action(
                    "enforcement.notify_party",
                    ENFORCER,
                    china(2020, 9, 8),
                    example_payload("enforcement.notify_party"),
                ),
                Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 9)),
            ],
            ENFORCER,
        ),
    ],
    ids=[
        "complaint-registered",
        "complaint-investigated",
        "mediation-in-session",
        "hearing-requested",
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
    refused = rejected(
        state,
        step,
        payload,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=OFFICER,
        occurred_at=china(2020, 10, 13),
    )
    assert step in refused.message
    assert "'suspended'" in refused.message
    assert state.case_id in refused.message


def test_while_suspended_documents_and_supervision_notes_are_recorded() -> None:
    state = suspend(complaint(), china(2020, 10, 12))
    state, event = accepted(
        state,
        "case.attach_document",
        example_payload("case.attach_document"),
        actor=OFFICER,
        occurred_at=china(2020, 10, 13),
    )
    assert event.type == "case.document_attached"
    state, event = accepted(
        state,
        "case.note_supervision",
        {"note": "请尽快恢复办理"},
        actor=actor(SUPERVISOR),
        occurred_at=china(2020, 10, 14),
    )
    assert event.type == "case.supervision_noted"
    assert state.status == "suspended"
    assert state.suspended_from == "accepted"


def test_resuming_a_case_that_is_not_suspended_is_illegal() -> None:
    refused = rejected(
        complaint(),
        "case.resume",
        None,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=OFFICER,
        occurred_at=china(2020, 10, 13),
    )
    assert "case.resume" in refused.message
    assert "suspended" in refused.message


# --- extensions ---------------------------------------------------------------------------------


def test_extension_moves_petition_handling_by_the_days_granted() -> None:
    state, _ = run(
        [
            Action(
                "petition.register",
                PETITION_OFFICER,
                china(2020, 5, 29),
                example_payload("petition.register"),
            ),
            Action("petition.accept", PETITION_OFFICER, china(2020, 6, 1)),
        ]
    )
    assert due(state, "petition.handling") == date(2020, 7, 31)
    state, event = accepted(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 14, "reason": "情况复杂，经负责人批准"},
        actor=OFFICER,
        occurred_at=china(2020, 7, 20),
    )
    assert event.type == "case.deadline_extended"
    assert state.status == "accepted"
    assert due(state, "petition.handling") == date(2020, 8, 14)
    state, _ = accepted(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 16, "reason": "再次延期"},
        actor=OFFICER,
        occurred_at=china(2020, 8, 10),
    )
    # 2020-06-01 + 90 days is Sunday 2020-08-30: the period ends on Monday 2020-08-31
    assert due(state, "petition.handling") == date(2020, 8, 31)


# --- the system clock ---------------------------------------------------------------------------


def test_warning_only_when_yellow_and_only_once() -> None:
    state = complaint()
    assert signal(state, "warning", "complaint.reply", china(2020, 10, 16)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )  # Fri Oct 16: 4 working days left, green
    refused = rejected(
        state,
        "case.record_deadline_warning",
        {"clock": "complaint.reply"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=SYSTEM,
        occurred_at=china(2020, 10, 16),
    )
    assert "green" in refused.message
    assert "2020-10-22" in refused.message
    warned = signal(state, "warning", "complaint.reply", china(2020, 10, 19))  # 3 left: yellow
    assert isinstance(warned, tuple)
    state, event_type = warned
    assert event_type == "case.deadline_warning_recorded"
    assert state.signals == frozenset({"complaint.reply:yellow:2020-10-22"})
    assert state.status == "accepted"
    refused = rejected(
        state,
        "case.record_deadline_warning",
        {"clock": "complaint.reply"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=SYSTEM,
        occurred_at=china(2020, 10, 20),
    )
    assert "already recorded" in refused.message
    assert state.case_id in refused.message


def test_breach_only_when_red_and_only_once() -> None:
    state = complaint()
    # the last minute of the due day is still yellow
    assert signal(state, "breach", "complaint.reply", china(2020, 10, 22, 23, 59)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    breached = signal(state, "breach", "complaint.reply", china(2020, 10, 23, 0, 0))
    assert isinstance(breached, tuple)
    state, event_type = breached
    assert event_type == "case.deadline_breached"
    assert state.signals == frozenset({"complaint.reply:red:2020-10-22"})
    assert signal(state, "breach", "complaint.reply", china(2020, 10, 26)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    # a warning not recorded in time may still be recorded once the light is red
    warned = signal(state, "warning", "complaint.reply", china(2020, 10, 26))
    assert isinstance(warned, tuple)
    assert warned[0].signals == frozenset(
        {"complaint.reply:red:2020-10-22", "complaint.reply:yellow:2020-10-22"}
    )


def test_no_signal_on_a_clock_that_is_not_running() -> None:
    state = complaint()
    refused = rejected(
        state,
        "case.record_deadline_breach",
        {"clock": "petition.handling"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=SYSTEM,
        occurred_at=china(2020, 12, 1),
    )
    assert "petition.handling" in refused.message
    assert "not running" in refused.message
    # the reply stops the reply clock: no red light after it, however late
    state, _ = run(
        [
            Action(
                "complaint.assign", PETITION_OFFICER, china(2020, 9, 28), {"department": "信访办"}
            ),
            Action(
                "complaint.investigate", PETITION_OFFICER, china(2020, 9, 29), {"findings": "f"}
            ),
            Action(
                "complaint.reply",
                PETITION_OFFICER,
                china(2020, 9, 30),
                {"reply": "r", "method": "phone"},
            ),
        ],
        state,
    )
    assert state.clocks == ()
    assert signal(state, "breach", "complaint.reply", china(2020, 12, 1)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )


def test_no_signal_on_a_closed_case() -> None:
    state, _ = run(
        [
            REGISTER,
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
    state, _ = run(
        [
            Action(
                "enforcement.register_source",
                ENFORCER,
                china(2020, 9, 1),
                example_payload("enforcement.register_source"),
            )
        ]
    )
    assert due(state, "enforcement.filing") == date(2020, 9, 22)
    assert signal(state, "breach", "enforcement.filing", china(2020, 9, 22, 18, 0)) is (
        RejectionCode.ILLEGAL_TRANSITION
    )
    breached = signal(state, "breach", "enforcement.filing", china(2020, 9, 23, 8, 0))
    assert isinstance(breached, tuple)
    # filing stops the filing clock and starts the decision clock
    state, _ = run(
        [
            Action(
                "enforcement.file",
                ENFORCER,
                china(2020, 9, 24),
                example_payload("enforcement.file"),
            )
        ],
        breached[0],
    )
    assert [c.rule for c in state.clocks] == ["enforcement.decision"]
