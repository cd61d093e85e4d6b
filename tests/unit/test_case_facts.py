"""The facts statistics count, folded from a case's events: refused or accepted, on time or not
(from the clocks themselves), and person-visits counted per visit."""

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from events.as_of import Basis
from events.deadlines import Clock, DayCount, Light
from events.decide import evolve
from events.model import Event
from events.payloads import DisclosureAnswerType
from events.state import CaseState
from projections.queries.statistics import facts_as_of
from projections.read_models.cases import (
    FACTS_COLUMNS,
    VISIT_RECORDED,
    CaseFacts,
    facts_after,
    facts_row,
)
from tests.unit.domain import test_disclosure as disclosure
from tests.unit.domain import test_enforcement as enforcement
from tests.unit.domain.support import (
    CITY_XF,
    ENFORCER,
    MEDIATOR,
    PETITION_OFFICER,
    REVIEWER,
    SUPERVISOR,
    Action,
    china,
    example,
    run,
)

COLUMNS = [line.split()[0] for line in FACTS_COLUMNS.strip().splitlines()]

REGISTER = Action(
    "petition.register",
    PETITION_OFFICER,
    china(2020, 6, 1),
    {
        "channel": "visit",
        "persons": 3,
        "summary": "厂房噪音扰民",
        "petitioners": [{"name": "李四"}],
    },
)
ACCEPT = Action("petition.accept", PETITION_OFFICER, china(2020, 6, 3))
"""The handling clock runs 60 days from 2020-06-03: due Monday 2020-08-03."""


def handle(day: datetime) -> Action:
    return Action("petition.handle", PETITION_OFFICER, day, {"record": "约谈信访人"})


def opinion(day: datetime) -> Action:
    return Action("petition.issue_opinion", PETITION_OFFICER, day, {"opinion": "依法处理"})


def close(day: datetime) -> Action:
    return Action("petition.close", PETITION_OFFICER, day)


def suspend(day: datetime) -> Action:
    return Action("case.suspend", PETITION_OFFICER, day, {"reason": "等待司法鉴定"})


def resume(day: datetime) -> Action:
    return Action("case.resume", PETITION_OFFICER, day, {"note": "鉴定完成"})


def extend(day: datetime) -> Action:
    payload = {"clock": "petition.handling", "days": 30, "reason": "情况复杂，经负责人批准"}
    return Action("case.extend", PETITION_OFFICER, day, payload)


def folded(events: list[Event]) -> tuple[CaseState, CaseFacts]:
    """The state and the facts after ``events``, folded as the projection folds them."""
    state: CaseState | None = None
    facts = CaseFacts()
    for event in events:
        facts = facts_after(facts, event, state)
        state = evolve(state, event)
    assert state is not None
    return state, facts


def row(actions: list[Action]) -> dict[str, Any]:
    """The case_facts row of the case ``actions`` make, by column."""
    _, events = run(actions)
    return dict(zip(COLUMNS, facts_row(*folded(events)), strict=True))


def test_a_petition_answered_within_its_deadlines_is_on_time() -> None:
    facts = row([REGISTER, ACCEPT, handle(china(2020, 6, 10)), opinion(china(2020, 8, 3, 17))])
    assert (facts["refused"], facts["breached"]) == (False, False)
    closed = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            opinion(china(2020, 8, 3, 17)),
            close(china(2020, 8, 20)),
        ]
    )
    assert closed["closed_at"] == china(2020, 8, 20)
    assert (closed["refused"], closed["breached"]) == (False, False)


def test_an_opinion_after_the_due_day_breaches_the_handling_deadline() -> None:
    facts = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            opinion(china(2020, 8, 4, 0, 5)),  # five minutes into the day after the due day
            close(china(2020, 8, 5)),
        ]
    )
    assert facts["closed_at"] is not None
    assert (facts["refused"], facts["breached"]) == (False, True)


def test_a_late_acceptance_breaches_though_the_rest_is_on_time() -> None:
    late = Action("petition.accept", PETITION_OFFICER, china(2020, 6, 20))  # due 2020-06-16
    facts = row(
        [
            REGISTER,
            late,
            handle(china(2020, 6, 22)),
            opinion(china(2020, 6, 30)),
            close(china(2020, 7, 1)),
        ]
    )
    assert facts["breached"] is True


def test_a_restarted_clock_is_judged_again_and_its_breach_counts() -> None:
    """No system-clock breach event anywhere: the reopened petition's new handling clock is past
    due at the step that stops it, and that is the breach."""
    reopen = Action("case.reopen", PETITION_OFFICER, china(2020, 7, 1), {"reason": "督办重办"})
    facts = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            opinion(china(2020, 6, 15)),
            close(china(2020, 6, 16)),
            reopen,  # the handling clock starts again on 2020-07-01: due 2020-08-31
            handle(china(2020, 8, 20)),
            opinion(china(2020, 9, 2)),
            close(china(2020, 9, 3)),
        ]
    )
    assert facts["breached"] is True


def test_a_refused_petition_is_refused_and_never_late() -> None:
    not_accept = Action(
        "petition.not_accept", PETITION_OFFICER, china(2020, 6, 2), {"reason": "已经司法程序"}
    )
    facts = row([REGISTER, not_accept])
    assert facts["status"] == "not_accepted"
    assert facts["closed_at"] == china(2020, 6, 2)
    assert (facts["refused"], facts["breached"]) == (True, False)


def test_a_case_awaiting_the_decision_to_take_it_up_is_neither_accepted_nor_refused() -> None:
    """办结率 is over the cases accepted (受理, 立案): a petition only registered, or suspended
    before the office decided, an enforcement lead not yet filed, a mediation application not
    yet accepted are not accepted yet; a disclosure request is taken up on receipt."""
    awaiting = [
        [REGISTER],
        [REGISTER, suspend(china(2020, 6, 2))],
        [example("enforcement.register_source", ENFORCER, china(2020, 9, 1))],
        [example("mediation.register_application", MEDIATOR, china(2020, 9, 1))],
    ]
    for actions in awaiting:
        assert (row(actions)["refused"], row(actions)["undecided"]) == (False, True), actions
    taken_up = [
        [REGISTER, ACCEPT],
        [
            example("enforcement.register_source", ENFORCER, china(2020, 9, 1)),
            example("enforcement.file", ENFORCER, china(2020, 9, 3)),
        ],
        [disclosure.REGISTER],
    ]
    for actions in taken_up:
        assert (row(actions)["refused"], row(actions)["undecided"]) == (False, False), actions


def test_a_suspension_before_the_due_day_moves_it_and_the_case_stays_on_time() -> None:
    facts = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            suspend(china(2020, 7, 20)),  # stands still 31 days: due 2020-09-03
            resume(china(2020, 8, 20)),
            opinion(china(2020, 8, 25)),
            close(china(2020, 8, 26)),
        ]
    )
    assert facts["breached"] is False


def test_a_clock_suspended_after_its_due_day_was_breached_already() -> None:
    facts = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            suspend(china(2020, 8, 5)),
            resume(china(2020, 8, 20)),
            opinion(china(2020, 8, 21)),
            close(china(2020, 8, 22)),
        ]
    )
    assert facts["breached"] is True


def test_an_extension_granted_in_time_moves_the_due_day_one_granted_late_does_not_undo() -> None:
    in_time = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            extend(china(2020, 7, 30)),
            opinion(china(2020, 8, 20)),
        ]
    )
    assert in_time["breached"] is False
    too_late = row(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            extend(china(2020, 8, 5)),
            opinion(china(2020, 8, 20)),
        ]
    )
    assert too_late["breached"] is True


def test_person_visits_count_every_recorded_visit() -> None:
    """``petition.visit_recorded`` is folded by its name and its ``persons``: built by hand here,
    the step being another part of the work."""
    state, events = run([REGISTER, ACCEPT])
    _, facts = folded(events)
    assert facts.persons == 3
    for version, persons in ((3, 4), (4, 2)):
        visit = events[-1].model_copy(
            update={"type": VISIT_RECORDED, "version": version, "payload": {"persons": persons}}
        )
        facts = facts_after(facts, visit, state)
    assert facts.persons == 9
    assert facts.channel == "visit"


def test_the_as_of_facts_fold_the_same_way() -> None:
    _, events = run(
        [
            REGISTER,
            ACCEPT,
            handle(china(2020, 6, 10)),
            opinion(china(2020, 8, 10)),
            close(china(2020, 8, 11)),
        ]
    )
    before_the_opinion = dict(
        zip(COLUMNS, facts_as_of(events, china(2020, 8, 1), Basis.OCCURRED)[0], strict=True)
    )
    assert before_the_opinion["breached"] is False
    after = dict(
        zip(COLUMNS, facts_as_of(events, china(2020, 9, 1), Basis.OCCURRED)[0], strict=True)
    )
    assert after == dict(zip(COLUMNS, facts_row(*folded(events)), strict=True))
    assert after["breached"] is True


def test_a_clock_the_calendar_cannot_count_is_never_judged_breached() -> None:
    """A working-day clock into a year no source covers has an unknown due day: folding goes on
    (a projection never stops on it), and no breach is guessed."""
    state, events = run([REGISTER, ACCEPT])
    uncounted = Clock(
        rule="complaint.reply",
        unit=DayCount.WORKING,
        length=15,
        warn_within=3,
        extendable_by=0,
        started_on=date(2099, 1, 5),
    )
    assert uncounted.counted_due_day() is None
    before = state.model_copy(update={"clocks": (uncounted,)})
    later = events[-1].model_copy(update={"version": 3, "occurred_at": china(2099, 12, 31)})
    assert facts_after(CaseFacts(), later, before).breached is False
    overdue = state.clock("petition.handling")
    assert overdue is not None
    both = state.model_copy(update={"clocks": (uncounted, overdue)})
    assert facts_after(CaseFacts(), later, both).breached is True


# --- limits that are not the handling's own -------------------------------------------------------


def test_a_late_answer_to_a_supervision_note_does_not_make_the_closing_late() -> None:
    note = Action(
        "case.note_supervision",
        SUPERVISOR,
        china(2020, 6, 10),
        {"note": "请加快办理", "respond_by": "2020-06-12"},
    )
    answer = Action(
        "case.answer_supervision",
        PETITION_OFFICER,
        china(2020, 6, 22),  # ten days after the reply-by date
        {"note_version": 3, "answer": "已约谈信访人"},
    )
    steps = [REGISTER, ACCEPT, note, answer, handle(china(2020, 6, 23))]
    facts = row([*steps, opinion(china(2020, 6, 24)), close(china(2020, 6, 25))])
    assert (facts["refused"], facts["breached"]) == (False, False)
    # the same case with its handling clock missed is late: the judging itself still works
    late = row([*steps, opinion(china(2020, 8, 10)), close(china(2020, 8, 11))])
    assert late["breached"] is True


def test_the_parties_window_for_judicial_confirmation_does_not_make_the_closing_late() -> None:
    accept = Action(
        "mediation.accept",
        MEDIATOR,
        china(2020, 7, 1),
        {
            "dispute": "租赁纠纷",
            "parties": [{"name": "甲"}, {"name": "乙"}],
            "amount_in_dispute_fen": 1,
        },
    )
    session = Action("mediation.hold_session", MEDIATOR, china(2020, 7, 3), {"notes": "陈述"})
    agree = Action(
        "mediation.reach_agreement", MEDIATOR, china(2020, 7, 5), {"amount_fen": 1, "terms": "t"}
    )
    # followed up and closed 40 days after the agreement: the parties never applied in the 30
    follow_up = Action("mediation.follow_up", MEDIATOR, china(2020, 8, 14), {"performed": True})
    close_it = Action("mediation.close", MEDIATOR, china(2020, 8, 14, 16))
    assign = Action(
        "mediation.assign_mediator", MEDIATOR, china(2020, 7, 2), {"mediator_id": MEDIATOR}
    )
    state, _ = run([accept, assign, session, agree, follow_up])
    window = state.clock("mediation.judicial_confirmation")
    assert window is not None
    assert window.judges_handling is False
    assert window.light(china(2020, 8, 14)) is Light.RED  # it lapsed, and shows it
    facts = row([accept, assign, session, agree, follow_up, close_it])
    assert facts["breached"] is False


def note(day: datetime, respond_by: str | None) -> Action:
    return Action(
        "case.note_supervision",
        SUPERVISOR,
        day,
        {"note": "请报送办理进展", "respond_by": respond_by},
    )


def answer(day: datetime, version: int) -> Action:
    return Action(
        "case.answer_supervision",
        PETITION_OFFICER,
        day,
        {"note_version": version, "answer": "已约谈双方"},
    )


def test_supervision_notes_answered_on_time_are_counted_by_their_own_clocks() -> None:
    steps = [
        REGISTER,
        ACCEPT,
        note(china(2020, 6, 4), "2020-06-10"),  # version 3: reply by Wed 6/10
        note(china(2020, 6, 5), "2020-06-12"),  # version 4: reply by Fri 6/12
        answer(china(2020, 6, 10, 17), 3),  # on note 3's last day: on time
        note(china(2020, 6, 12), None),  # version 6: no date, 5 working days: by Fri 6/19
        answer(china(2020, 6, 15), 4),  # after 6/12: late
    ]
    facts = row(steps)  # note 6 unanswered so far: it counts against the rate too
    assert (facts["supervision_notes"], facts["supervision_answered_on_time"]) == (3, 1)
    later = row([*steps, answer(china(2020, 6, 19, 16), 6)])
    assert later["supervision_answered_on_time"] == 2
    # A supervisor's date is not the office's handling deadline: no breach of the case.
    assert later["breached"] is False


def test_periods_the_office_does_not_keep_never_make_its_closing_late() -> None:
    """The party's fifteen days to pay, a consulted third party's fifteen working days and the
    reviewing body's thirty days light up when they run out, but they are not the office's own
    handling: a case closed by the lawful path after one of them ran out is closed on time."""
    unpaid = [
        *enforcement.SERVED,
        enforcement.PUBLISH,
        # the payment clock (due 2020-10-12) has run out: that is what allows the demand
        enforcement.demand(china(2020, 10, 22), 150_000),
        replace(enforcement.NO_APPEAL, at=china(2021, 3, 30)),
        enforcement.apply_to_court(china(2021, 4, 1), 650_000),
        example("enforcement.record_court_acceptance", ENFORCER, china(2021, 4, 6)),
        replace(enforcement.CLOSE, at=china(2021, 4, 7)),
    ]
    no_reply = [
        disclosure.REGISTER,
        disclosure.CONSULT,
        # recorded only once the party's fifteen working days are over
        disclosure.opinion(date(2021, 3, 30), "no_reply"),
        disclosure.answer(date(2021, 3, 31), DisclosureAnswerType.DISCLOSED),
        replace(disclosure.CLOSE, at=china(2021, 4, 1)),
    ]
    reviewed_late = [
        REGISTER,
        ACCEPT,
        handle(china(2020, 6, 10)),
        opinion(china(2020, 6, 20)),
        close(china(2020, 6, 22)),
        Action(
            "petition.record_reply_receipt",
            PETITION_OFFICER,
            china(2020, 6, 23),
            {"received_on": "2020-06-23", "method": "直接送达"},
        ),
        Action(
            "petition.request_review",
            REVIEWER,
            china(2020, 7, 1),
            {"reviewing_department": CITY_XF, "reason": "不服"},
        ),
        # 中山市信访局 answers after its thirty days (due 2020-07-31)
        Action(
            "petition.decide_review",
            REVIEWER,
            china(2020, 8, 20),
            {"outcome": "upheld", "opinion": "维持"},
        ),
        close(china(2020, 8, 21)),
    ]
    for actions in (unpaid, no_reply, reviewed_late):
        facts = row(actions)
        assert (facts["status"], facts["refused"]) == ("closed", False), actions[0].type
        assert facts["breached"] is False, actions[0].type
    # the office's own periods still count: the decision served after its seven days
    served_late = [*enforcement.SERVED[:-1], replace(enforcement.SERVE, at=china(2020, 10, 10))]
    assert row(served_late)["breached"] is True
