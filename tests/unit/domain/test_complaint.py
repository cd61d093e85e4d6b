"""Complaints (投诉举报): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace

from events.errors import RejectionCode
from events.model import CaseType
from tests.unit.domain.support import (
    ACCEPT_COMPLAINT,
    CASE_ID,
    MARKET_ENFORCER,
    MEDIATOR,
    PETITION_OFFICER,
    REGISTER_COMPLAINT,
    SC,
    XF,
    Action,
    actor,
    china,
    due,
    end,
    refuse,
    refuse_to_parse,
    run,
    take,
    walk,
)

MARKET = actor(MARKET_ENFORCER, "officer")


ASSIGN = Action(
    "complaint.assign",
    PETITION_OFFICER,
    china(2020, 9, 28),
    {"department": SC, "officer_id": MARKET_ENFORCER, "note": "请核实"},
)
INVESTIGATE = Action("complaint.investigate", MARKET, china(2020, 10, 12), {"findings": "属实"})
REPLY = Action(
    "complaint.reply", MARKET, china(2020, 10, 13), {"reply": "已责令整改", "method": "phone"}
)
CLOSE = Action("complaint.close", MARKET, china(2020, 10, 14))
INVESTIGATED = [REGISTER_COMPLAINT, ACCEPT_COMPLAINT, ASSIGN, INVESTIGATE]
CLOSED = [*INVESTIGATED, REPLY, CLOSE]
"""A complaint assigned to 市场监管分局 (MARKET_ENFORCER) and worked there to closing."""


def test_complaint_happy_path_from_registration_to_closing() -> None:
    # no clock before the acceptance, and the reply stops it
    (registered, _, assigned, *_), events = walk(
        [
            (REGISTER_COMPLAINT, "complaint.registered", "registered", []),
            (ACCEPT_COMPLAINT, "complaint.accepted", "accepted", ["complaint.reply"]),
            (ASSIGN, "complaint.assigned", "assigned", ["complaint.reply"]),
            (INVESTIGATE, "complaint.investigated", "investigated", ["complaint.reply"]),
            (REPLY, "complaint.replied", "replied", []),
            (CLOSE, "complaint.closed", "closed", []),
        ]
    )
    assert registered.owner_department == XF
    assert registered.case_type is CaseType.COMPLAINT
    assert registered.opened_at == china(2020, 9, 24)
    assert assigned.owner_department == SC
    assert assigned.assigned_officer == MARKET_ENFORCER
    assert events[2].actor.officer_id == PETITION_OFFICER
    assert events[3].actor.department == SC
    assert events[3].department == SC


def test_complaint_reply_clock_runs_fifteen_working_days_from_acceptance() -> None:
    state, _ = run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT])
    assert due(state, "complaint.reply").isoformat() == "2020-10-22"


def test_complaint_not_accepted_needs_a_reason_and_is_terminal() -> None:
    state, _ = run([REGISTER_COMPLAINT])
    not_accept = Action("complaint.not_accept", PETITION_OFFICER, china(2020, 9, 25), {})
    missing = RejectionCode.MISSING_FIELD
    refuse_to_parse(not_accept, missing, "complaint.not_accept", "payload.reason")
    not_accept = replace(not_accept, payload={"reason": "不属于本机关职责范围"})
    state, event = end(state, not_accept, "complaint.not_accepted", "not_accepted")
    assert event.payload == {"reason": "不属于本机关职责范围"}
    illegal = RejectionCode.ILLEGAL_TRANSITION
    accept = Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 26))
    refuse(state, accept, illegal, "'not_accepted'", CASE_ID)
    reopen = Action("case.reopen", PETITION_OFFICER, china(2020, 9, 26), {"reason": "复查"})
    refuse(state, reopen, illegal, "case.reopen")


def test_complaint_can_be_closed_only_after_the_reply() -> None:
    state, _ = run(INVESTIGATED)
    close = replace(CLOSE, at=china(2020, 10, 13))
    refuse(state, close, RejectionCode.REPLY_REQUIRED, CASE_ID, "'investigated'")


def test_complaint_investigated_twice_and_reassigned() -> None:
    state, events = run(
        [
            REGISTER_COMPLAINT,
            ACCEPT_COMPLAINT,
            ASSIGN,
            Action("complaint.assign", MARKET, china(2020, 9, 29), {"department": XF}),
            Action(
                "complaint.investigate",
                PETITION_OFFICER,
                china(2020, 9, 30),
                {"findings": "初步核查"},
            ),
            Action(
                "complaint.investigate",
                PETITION_OFFICER,
                china(2020, 10, 9),
                {"findings": "补充核查"},
            ),
        ]
    )
    assert state.status == "investigated"
    assert state.owner_department == XF
    assert state.assigned_officer is None
    assert [e.type for e in events][-3:] == [
        "complaint.assigned",
        "complaint.investigated",
        "complaint.investigated",
    ]


def test_complaint_reopened_after_closing_returns_to_accepted() -> None:
    closed, events = run(CLOSED)
    reopen = Action("case.reopen", MARKET, china(2020, 10, 20), {"reason": "投诉人对答复不满意"})
    state, event = take(closed, reopen)
    assert event.type == "case.reopened"
    assert event.version == 7
    assert event.prev_hash == events[-1].hash
    assert state.status == "accepted"
    assert state.closed_at is None
    assert state.owner_department == SC
    # accepted → investigated is not in the table: the reopened complaint is assigned again
    state, _ = run(
        [
            Action("complaint.assign", MARKET, china(2020, 10, 21), {"department": SC}),
            Action("complaint.investigate", MARKET, china(2020, 10, 21), {"findings": "再次核查"}),
            Action(
                "complaint.reply",
                MARKET,
                china(2020, 10, 22),
                {"reply": "再次答复", "method": "letter"},
            ),
            Action("complaint.close", MARKET, china(2020, 10, 23)),
        ],
        state,
    )
    assert state.status == "closed"
    assert state.closed_at == china(2020, 10, 23)


def test_complaint_steps_are_refused_to_a_mediator() -> None:
    state, _ = run([REGISTER_COMPLAINT])
    accept = replace(ACCEPT_COMPLAINT, actor=MEDIATOR)
    refuse(state, accept, RejectionCode.FORBIDDEN_ROLE, "complaint.accept", "mediator")
