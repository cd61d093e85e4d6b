"""Complaints (投诉举报): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.errors import RejectionCode
from events.model import CaseType
from events.payloads import Satisfaction
from events.titles import ENUM_TITLES
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
    # the acceptance clock until the acceptance (it used to run no clock before: there is an
    # acceptance deadline now), then the reply clock until the reply
    (registered, _, assigned, *_), events = walk(
        [
            (REGISTER_COMPLAINT, "complaint.registered", "registered", ["complaint.acceptance"]),
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


def test_complaint_acceptance_is_decided_within_seven_working_days() -> None:
    state, _ = run([REGISTER_COMPLAINT])
    # Thu 2020-09-24 + 7 working days: Sep 25, Sun Sep 27 (make-up), 28, 29, 30, Oct 9, and
    # Sat Oct 10 (make-up); Oct 1-8 are the National Day holidays
    assert due(state, "complaint.acceptance") == date(2020, 10, 10)
    state, _ = run(
        [
            Action(
                "complaint.not_accept",
                PETITION_OFFICER,
                china(2020, 9, 25),
                {"reason": "不属于本机关职责"},
            )
        ],
        state,
    )
    assert state.clocks == ()


def test_complaint_can_be_closed_only_after_the_reply() -> None:
    state, _ = run(INVESTIGATED)
    close = replace(CLOSE, at=china(2020, 10, 13))
    refuse(state, close, RejectionCode.REPLY_REQUIRED, CASE_ID, "'investigated'", "anonymous")
    early, _ = run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT, ASSIGN])
    refuse(early, close, RejectionCode.REPLY_REQUIRED, CASE_ID, "'assigned'")


ANONYMOUS = Action(
    "complaint.register",
    PETITION_OFFICER,
    china(2020, 9, 24),
    {"channel": "hotline_12345", "subject": "夜间工地施工噪音", "anonymous": True},
)


def test_an_anonymous_complaint_has_no_person_and_closes_without_a_reply() -> None:
    state, events = run([ANONYMOUS, ACCEPT_COMPLAINT, ASSIGN, INVESTIGATE])
    assert state.anonymous
    assert events[0].payload["complainant"] is None
    assert events[0].payload["anonymous"] is True
    state, _ = end(state, CLOSE, "complaint.closed", "closed")
    assert not state.replied
    # there was no reply to ask about
    follow_up = Action("complaint.follow_up", PETITION_OFFICER, china(2020, 10, 20), FOLLOW_UP)
    refuse(state, follow_up, RejectionCode.REPLY_REQUIRED, "without a reply")


def test_an_anonymous_complaint_may_still_be_replied_to() -> None:
    # e.g. through the hotline's ticket, which reaches the caller without a name
    state, _ = run([ANONYMOUS, ACCEPT_COMPLAINT, ASSIGN, INVESTIGATE, REPLY, CLOSE])
    assert (state.status, state.replied, state.anonymous) == ("closed", True, True)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"anonymous": True, "complainant": {"name": "王五"}}, "records no complainant"),
        ({"anonymous": False}, "needs its complainant"),
        ({}, "needs its complainant"),
    ],
    ids=["anonymous-with-a-name", "named-without-a-person", "neither"],
)
def test_named_or_anonymous_never_both(payload: dict[str, Any], says: str) -> None:
    register = Action(
        "complaint.register",
        PETITION_OFFICER,
        china(2020, 9, 24),
        {"channel": "phone", "subject": "油烟", **payload},
    )
    refuse_to_parse(register, RejectionCode.INVALID_PAYLOAD, says)


FOLLOW_UP = {"satisfaction": "basically_satisfied", "method": "phone", "notes": "油烟减少"}


def test_follow_up_visit_after_the_reply_and_after_closing() -> None:
    state, _ = run(INVESTIGATED)
    early = Action("complaint.follow_up", PETITION_OFFICER, china(2020, 10, 12), FOLLOW_UP)
    refuse(state, early, RejectionCode.ILLEGAL_TRANSITION, "'investigated'")
    state, _ = run([REPLY], state)
    # 信访办, which registered it, visits the complainant about 市场监管分局's reply
    replied, event = take(state, replace(early, at=china(2020, 10, 13)))
    assert (event.type, replied.status) == ("complaint.followed_up", "replied")
    assert event.actor.department == XF
    assert event.payload["satisfaction"] == "basically_satisfied"
    closed, _ = run([CLOSE], replied)
    dissatisfied = {"satisfaction": "dissatisfied", "method": "visit"}
    later = Action("complaint.follow_up", MARKET, china(2020, 10, 30), dissatisfied)
    closed, event = take(closed, later)
    assert (closed.status, closed.closed_at) == ("closed", china(2020, 10, 14))
    assert event.payload["notes"] == ""


def test_satisfaction_is_one_of_the_labelled_answers() -> None:
    unknown = {"satisfaction": "thrilled", "method": "phone"}
    follow_up = Action("complaint.follow_up", PETITION_OFFICER, china(2020, 10, 20), unknown)
    refuse_to_parse(follow_up, RejectionCode.INVALID_PAYLOAD, "payload.satisfaction")
    titles = ENUM_TITLES["Satisfaction"]
    assert titles["satisfied"].startswith("满意 / ")
    assert titles["unreachable"].startswith("无法联系 / ")
    assert set(titles) == {s.value for s in Satisfaction}


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
