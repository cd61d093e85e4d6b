"""Petitions (信访): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from events.errors import RejectionCode
from events.model import CaseType
from events.payloads import PetitionChannel
from events.titles import ENUM_TITLES
from tests.unit.domain.support import (
    CASE_ID,
    CITY_GOV,
    CITY_XF,
    MEDIATOR,
    OTHER_OFFICER,
    PETITION_OFFICER,
    REVIEWER,
    SECOND_REVIEWER,
    XF,
    ZX,
    Action,
    actor,
    assert_history,
    china,
    due,
    end,
    example,
    refuse,
    refuse_to_parse,
    run,
    take,
    walk,
)

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
ACCEPT = Action("petition.accept", PETITION_OFFICER, china(2020, 6, 3), {"note": "符合受理条件"})
ASSIGN = Action(
    "petition.assign",
    PETITION_OFFICER,
    china(2020, 6, 4),
    {"department": ZX, "officer_id": OTHER_OFFICER},
)
HANDLE = Action("petition.handle", OTHER_OFFICER, china(2020, 6, 10), {"record": "召集双方协调"})
OPINION = Action(
    "petition.issue_opinion", OTHER_OFFICER, china(2020, 6, 15), {"opinion": "诉求合理，责成整改"}
)
CLOSE = Action("petition.close", OTHER_OFFICER, china(2020, 6, 16))


def test_petition_happy_path_from_registration_to_closing() -> None:
    states, events = walk(
        [
            (REGISTER, "petition.registered", "registered", ["petition.acceptance"]),
            (ACCEPT, "petition.accepted", "accepted", ["petition.handling"]),
            (ASSIGN, "petition.assigned", "assigned", ["petition.handling"]),
            (HANDLE, "petition.handled", "handled", ["petition.handling"]),
            (OPINION, "petition.opinion_issued", "opinion_issued", []),
            (CLOSE, "petition.closed", "closed", []),
        ]
    )
    closed = states[-1]
    assert closed.case_type is CaseType.PETITION
    assert (closed.owner_department, closed.assigned_officer) == (ZX, OTHER_OFFICER)
    assert events[0].payload["channel"] == "visit"
    assert events[0].payload["persons"] == 3


def test_petition_clocks_acceptance_fifteen_days_handling_sixty() -> None:
    state, _ = run([REGISTER])
    assert due(state, "petition.acceptance") == date(2020, 6, 16)
    state, _ = run([ACCEPT], state)
    # 2020-06-03 + 60 days is Sunday 2020-08-02: the period ends on the next working day
    assert due(state, "petition.handling") == date(2020, 8, 3)
    handling = state.clock("petition.handling")
    assert handling is not None
    assert handling.extendable_by == 30


def test_petition_handled_straight_after_acceptance() -> None:
    state, _ = run(
        [
            REGISTER,
            ACCEPT,
            Action("petition.handle", PETITION_OFFICER, china(2020, 6, 5), {"record": "直接办理"}),
        ]
    )
    assert state.status == "handled"
    assert state.owner_department == XF


def test_petition_not_accepted_needs_a_reason_and_is_terminal() -> None:
    state, _ = run([REGISTER])
    not_accept = Action("petition.not_accept", PETITION_OFFICER, china(2020, 6, 2))
    missing = RejectionCode.MISSING_FIELD
    refuse_to_parse(not_accept, missing, "petition.not_accept.payload")
    refuse_to_parse(replace(not_accept, payload={"reason": ""}), missing, "payload.reason")  # blank
    not_accept = replace(not_accept, payload={"reason": "已经司法程序处理"})
    state, _ = end(state, not_accept, "petition.not_accepted", "not_accepted")
    accept = Action("petition.accept", PETITION_OFFICER, china(2020, 6, 3))
    refuse(state, accept, RejectionCode.ILLEGAL_TRANSITION)


RECEIPT = Action(
    "petition.record_reply_receipt",
    OTHER_OFFICER,
    china(2020, 6, 19),
    {"received_on": "2020-06-18", "method": "直接送达"},
)
"""The petitioner received the opinion of 综治中心 (the handling office) on 2020-06-18."""
REQUEST_REVIEW = Action(
    "petition.request_review",
    REVIEWER,
    china(2020, 7, 20),  # the last day: 06-18 + 30 is Saturday 07-18
    {"reviewing_department": CITY_XF, "reason": "对处理意见不服"},
)
DECIDE_REVIEW = Action(
    "petition.decide_review",
    REVIEWER,
    china(2020, 8, 10),
    {"outcome": "upheld", "opinion": "维持原处理意见"},
)
CLOSED = [REGISTER, ACCEPT, ASSIGN, HANDLE, OPINION, CLOSE]


def test_petition_reviewed_by_the_authority_above_after_closing() -> None:
    closed, events = run([*CLOSED, RECEIPT])
    assert (closed.status, closed.reply_received_on) == ("closed", date(2020, 6, 18))
    assert closed.opinion_department == ZX
    # the review reopens the closed case, with its own 30-day clock
    state, more = run([REQUEST_REVIEW], closed)
    assert state.status == "review_requested"
    assert state.closed_at is None
    assert state.reviewer_department == CITY_XF
    assert state.owner_department == ZX  # the case stays the handling office's
    assert [c.rule for c in state.clocks] == ["petition.review"]
    assert due(state, "petition.review") == date(2020, 8, 19)
    assert more[0].actor.department == CITY_XF
    assert more[0].payload == {"reviewing_department": CITY_XF, "reason": "对处理意见不服"}
    state, last = run(
        [DECIDE_REVIEW, Action("petition.close", OTHER_OFFICER, china(2020, 8, 11))], state
    )
    assert state.status == "closed"
    assert state.closed_at == china(2020, 8, 11)
    assert state.reply_department == CITY_XF
    assert_history(
        events + more + last,
        [
            "petition.registered",
            "petition.accepted",
            "petition.assigned",
            "petition.handled",
            "petition.opinion_issued",
            "petition.closed",
            "petition.reply_received",
            "petition.review_requested",
            "petition.review_decided",
            "petition.closed",
        ],
    )


def test_the_handling_office_cannot_review_its_own_opinion() -> None:
    state, _ = run([*CLOSED, RECEIPT])
    wrong = RejectionCode.WRONG_DEPARTMENT
    # recording the higher authority's act itself
    refuse(state, replace(REQUEST_REVIEW, actor=OTHER_OFFICER), wrong, CITY_XF, ZX)
    # naming itself as the reviewing body
    itself = {"reviewing_department": ZX, "reason": "不服"}
    refuse(state, replace(REQUEST_REVIEW, actor=OTHER_OFFICER, payload=itself), wrong, "issued")
    # once the authority above has the request, only it records the review
    state, _ = run([REQUEST_REVIEW], state)
    for who in (OTHER_OFFICER, PETITION_OFFICER):
        refuse(state, replace(DECIDE_REVIEW, actor=who), wrong, CITY_XF, "reviewing body")


def test_a_review_body_unknown_to_the_directory_is_refused() -> None:
    # nobody of it can record the request: an officer of the directory belongs elsewhere
    state, _ = run([*CLOSED, RECEIPT])
    elsewhere = {"reviewing_department": "中山市某局", "reason": "不服"}
    refuse(
        state,
        replace(REQUEST_REVIEW, payload=elsewhere, actor=actor(REVIEWER, department="中山市某局")),
        RejectionCode.FORBIDDEN_ROLE,
        "belongs to 中山市信访局",
    )


def test_a_review_is_asked_within_thirty_days_of_receiving_the_reply() -> None:
    state, _ = run(CLOSED)
    # without the day of receipt the window cannot be judged
    refuse(state, REQUEST_REVIEW, RejectionCode.ILLEGAL_TRANSITION, "petition.record_reply_receipt")
    state, _ = run([RECEIPT], state)
    late = replace(REQUEST_REVIEW, at=china(2020, 7, 21))
    refuse(
        state,
        late,
        RejectionCode.PERIOD_EXPIRED,
        "2020-07-21",
        "2020-06-18",
        "2020-07-20",
        "第三十五条",
    )
    reviewed, _ = run([REQUEST_REVIEW], state)  # the last day itself is in time
    assert reviewed.status == "review_requested"


def test_the_receipt_is_recorded_by_the_office_that_issued_the_reply() -> None:
    state, _ = run(CLOSED)
    future = replace(RECEIPT, payload={"received_on": "2020-06-20", "method": "邮寄"})
    refuse(state, future, RejectionCode.INVALID_PAYLOAD, "2020-06-20", "after")
    before = replace(RECEIPT, payload={"received_on": "2020-05-31", "method": "邮寄"})
    refuse(state, before, RejectionCode.INVALID_PAYLOAD, "before")
    refuse(state, replace(RECEIPT, actor=PETITION_OFFICER), RejectionCode.WRONG_DEPARTMENT, ZX)
    # the review opinion is the reviewing body's reply: it records its receipt
    state, _ = run([RECEIPT, REQUEST_REVIEW, DECIDE_REVIEW], state)
    receipt = Action(
        "petition.record_reply_receipt",
        OTHER_OFFICER,
        china(2020, 8, 12),
        {"received_on": "2020-08-12", "method": "直接送达"},
    )
    refuse(state, receipt, RejectionCode.WRONG_DEPARTMENT, CITY_XF)
    state, event = take(state, replace(receipt, actor=REVIEWER))
    assert event.type == "petition.reply_received"
    assert state.reply_received_on == date(2020, 8, 12)
    assert state.status == "reviewed"


def test_review_opinion_clock_has_no_extension() -> None:
    state, _ = run([*CLOSED, RECEIPT, REQUEST_REVIEW])
    clock = state.clock("petition.review")
    assert clock is not None
    assert clock.extendable_by == 0  # 第三十五条 gives no extension
    extend = Action(
        "case.extend",
        OTHER_OFFICER,
        china(2020, 8, 1),
        {"clock": "petition.review", "days": 10, "reason": "情况复杂"},
    )
    refuse(state, extend, RejectionCode.LIMIT_EXCEEDED, "0 more day(s)")


SECOND_RECEIPT = Action(
    "petition.record_reply_receipt",
    REVIEWER,
    china(2020, 8, 12),
    {"received_on": "2020-08-12", "method": "直接送达"},
)
REQUEST_SECOND = Action(
    "petition.request_second_review",
    SECOND_REVIEWER,
    china(2020, 8, 20),
    {"reviewing_department": CITY_GOV, "reason": "对复查意见不服"},
)
DECIDE_SECOND = Action(
    "petition.decide_second_review",
    SECOND_REVIEWER,
    china(2020, 9, 10),
    {"outcome": "upheld", "opinion": "维持复查意见"},
)
REVIEWED = [*CLOSED, RECEIPT, REQUEST_REVIEW, DECIDE_REVIEW, SECOND_RECEIPT]


def test_second_review_then_the_matter_is_final() -> None:
    state, events = run([*REVIEWED, REQUEST_SECOND])
    assert state.status == "second_review_requested"
    assert state.review_level == 2
    assert [c.rule for c in state.clocks] == ["petition.second_review"]
    assert due(state, "petition.second_review") == date(2020, 9, 21)  # 09-19 is a Saturday
    state, more = run([DECIDE_SECOND], state)
    assert state.status == "concluded"
    assert state.closed_at == china(2020, 9, 10)
    assert state.clocks == ()
    final = RejectionCode.FINAL_STAGE_REACHED
    again = replace(REQUEST_SECOND, at=china(2020, 9, 20))
    refuse(state, again, final, "复核", "三级终结")
    third = replace(REQUEST_REVIEW, at=china(2020, 9, 20))
    refuse(state, third, final, "a review of the same matter")
    reopen = Action("case.reopen", OTHER_OFFICER, china(2020, 9, 20), {"reason": "再办"})
    refuse(state, reopen, RejectionCode.ILLEGAL_TRANSITION, "'concluded'")
    assert [e.type for e in events[-2:] + more] == [
        "petition.reply_received",
        "petition.second_review_requested",
        "petition.second_review_decided",
    ]


def test_second_review_is_made_above_the_first_reviewer() -> None:
    state, _ = run(REVIEWED)
    wrong = RejectionCode.WRONG_DEPARTMENT
    by_first = {"reviewing_department": CITY_XF, "reason": "不服"}
    refuse(state, replace(REQUEST_SECOND, actor=REVIEWER, payload=by_first), wrong, "issued")
    by_office = {"reviewing_department": ZX, "reason": "不服"}
    refuse(state, replace(REQUEST_SECOND, actor=OTHER_OFFICER, payload=by_office), wrong, "issued")
    state, _ = run([REQUEST_SECOND], state)
    for who in (REVIEWER, OTHER_OFFICER):
        refuse(state, replace(DECIDE_SECOND, actor=who), wrong, CITY_GOV)


def test_a_second_review_needs_a_review_and_a_review_is_asked_once() -> None:
    state, _ = run([*CLOSED, RECEIPT])
    second = replace(REQUEST_SECOND, at=china(2020, 6, 20))
    refuse(state, second, RejectionCode.ILLEGAL_TRANSITION, "none was issued")
    state, _ = run(REVIEWED)
    again = replace(REQUEST_REVIEW, at=china(2020, 8, 13))
    refuse(state, again, RejectionCode.ILLEGAL_TRANSITION, "petition.request_second_review")
    state, _ = run([Action("petition.close", OTHER_OFFICER, china(2020, 8, 13))], state)
    refuse(
        state,
        replace(again, at=china(2020, 8, 14)),
        RejectionCode.ILLEGAL_TRANSITION,
        "has had its review",
    )
    late = replace(REQUEST_SECOND, at=china(2020, 9, 14))  # 08-12 + 30 is Friday 09-11
    refuse(state, late, RejectionCode.PERIOD_EXPIRED, "2020-09-11", "第三十六条")


def test_hearing_time_is_left_out_of_the_second_review() -> None:
    state, _ = run([*REVIEWED, REQUEST_SECOND])
    hearing = Action("petition.schedule_hearing", SECOND_REVIEWER, china(2020, 8, 25), {})
    state, _ = take(state, hearing)
    assert state.status == "second_review_hearing"
    clock = state.clock("petition.second_review")
    assert clock is not None
    assert clock.paused_since == china(2020, 8, 25)
    refuse(state, DECIDE_SECOND, RejectionCode.ILLEGAL_TRANSITION, "'second_review_hearing'")
    concluded = Action(
        "petition.conclude_hearing",
        SECOND_REVIEWER,
        china(2020, 9, 4),
        {"record": "听取双方意见"},
    )
    refuse(state, replace(concluded, actor=OTHER_OFFICER), RejectionCode.WRONG_DEPARTMENT)
    state, _ = take(state, concluded)
    assert state.status == "second_review_requested"
    assert due(state, "petition.second_review") == date(2020, 9, 29)  # 10 days later
    state, _ = take(state, replace(DECIDE_SECOND, at=china(2020, 9, 28)))
    assert state.status == "concluded"


def test_petition_review_decision_needs_a_known_outcome() -> None:
    payload = {"outcome": "quashed", "opinion": "撤销"}
    decide = Action("petition.decide_review", OTHER_OFFICER, china(2020, 7, 10), payload)
    refuse_to_parse(decide, RejectionCode.INVALID_PAYLOAD, "payload.outcome")


def test_petition_reopened_after_closing_returns_to_assigned() -> None:
    closed, events = run([REGISTER, ACCEPT, ASSIGN, HANDLE, OPINION, CLOSE])
    reason = {"reason": "上级督办要求重新办理"}
    state, event = take(closed, Action("case.reopen", OTHER_OFFICER, china(2020, 7, 1), reason))
    assert event.type == "case.reopened"
    assert event.prev_hash == events[-1].hash
    assert state.status == "assigned"
    assert state.closed_at is None
    state, _ = run(
        [
            Action("petition.handle", OTHER_OFFICER, china(2020, 7, 2), {"record": "重新办理"}),
            Action("petition.issue_opinion", OTHER_OFFICER, china(2020, 7, 3), {"opinion": "维持"}),
            Action("petition.close", OTHER_OFFICER, china(2020, 7, 6)),
        ],
        state,
    )
    assert state.status == "closed"
    assert state.closed_at == china(2020, 7, 6)
    assert state.version == 10


@pytest.mark.parametrize(
    "steps",
    [[REGISTER, ACCEPT], [REGISTER, ACCEPT, ASSIGN], [REGISTER, ACCEPT, ASSIGN, HANDLE]],
    ids=["accepted", "assigned", "handled"],
)
def test_petition_close_needs_the_written_opinion(steps: list[Action]) -> None:
    state, _ = run(steps)
    owner = OTHER_OFFICER if state.owner_department == ZX else PETITION_OFFICER
    close = Action("petition.close", owner, china(2020, 6, 30))
    refuse(state, close, RejectionCode.REPLY_REQUIRED, CASE_ID, f"'{state.status}'")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"persons": 0}, "payload.persons"), ({"channel": "fax"}, "payload.channel")],
    ids=["no-persons", "unknown-channel"],
)
def test_petition_registration_payload_rules(change: dict[str, Any], field: str) -> None:
    register = example("petition.register", PETITION_OFFICER, china(2020, 6, 1), **change)
    refuse_to_parse(register, RejectionCode.INVALID_PAYLOAD, field)


def visit(who: str, at: datetime, persons: int = 2, channel: str = "visit") -> Action:
    return Action(
        "petition.record_visit", who, at, {"channel": channel, "persons": persons, "note": "再访"}
    )


def test_repeat_visits_are_recorded_open_or_closed_each_with_its_persons() -> None:
    # open, and owned by 综治中心: 信访办, which receives the people, records their visit
    state, events = run([REGISTER, ACCEPT, ASSIGN, visit(PETITION_OFFICER, china(2020, 6, 5), 4)])
    assert (state.status, state.owner_department) == ("assigned", ZX)
    assert events[-1].type == "petition.visit_recorded"
    assert events[-1].payload == {"channel": "visit", "persons": 4, "note": "再访"}
    assert events[-1].actor.department == XF
    # closed: the visit leaves it closed
    closed, _ = run([HANDLE, OPINION, CLOSE], state)
    again, event = take(closed, visit(PETITION_OFFICER, china(2020, 7, 1), 1, "hotline_12345"))
    assert (again.status, again.closed_at) == ("closed", closed.closed_at)
    assert event.payload["persons"] == 1
    # concluded after the second review, and not accepted: people still come
    final, _ = run(
        [RECEIPT, REQUEST_REVIEW, DECIDE_REVIEW, SECOND_RECEIPT, REQUEST_SECOND, DECIDE_SECOND],
        closed,
    )
    final, _ = take(final, visit(OTHER_OFFICER, china(2020, 9, 15)))
    assert final.status == "concluded"
    refused, _ = run(
        [
            REGISTER,
            Action("petition.not_accept", PETITION_OFFICER, china(2020, 6, 2), {"reason": "r"}),
            visit(PETITION_OFFICER, china(2020, 6, 9)),
        ],
        case_id="CASE-2020-0002",
    )
    assert refused.status == "not_accepted"


def test_a_repeat_visit_counts_at_least_one_person_on_a_known_channel() -> None:
    state, _ = run([REGISTER, ACCEPT])
    nobody = visit(PETITION_OFFICER, china(2020, 6, 5), 0)
    refuse_to_parse(nobody, RejectionCode.INVALID_PAYLOAD, "payload.persons")
    fax = visit(PETITION_OFFICER, china(2020, 6, 5), 1, "fax")
    refuse_to_parse(fax, RejectionCode.INVALID_PAYLOAD, "payload.channel")
    refuse(state, visit(MEDIATOR, china(2020, 6, 5)), RejectionCode.FORBIDDEN_ROLE, "mediator")


@pytest.mark.parametrize("channel", ["hotline_12345", "referred"])
def test_petitions_come_by_the_12345_hotline_and_from_above(channel: str) -> None:
    register = replace(REGISTER, payload={**(REGISTER.payload or {}), "channel": channel})
    state, events = run([register])
    assert state.status == "registered"
    assert events[0].payload["channel"] == channel
    assert PetitionChannel(channel).value in ENUM_TITLES["PetitionChannel"]
    assert " / " in ENUM_TITLES["PetitionChannel"][channel]
