"""Petitions (信访): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.errors import RejectionCode
from events.model import CaseType
from tests.unit.domain.support import (
    CASE_ID,
    OTHER_OFFICER,
    PETITION_OFFICER,
    XF,
    ZX,
    Action,
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


def test_petition_review_requested_and_decided_then_closed() -> None:
    state, events = run(
        [
            REGISTER,
            ACCEPT,
            ASSIGN,
            HANDLE,
            OPINION,
            Action(
                "petition.request_review", OTHER_OFFICER, china(2020, 6, 20), {"reason": "不服"}
            ),
        ]
    )
    assert state.status == "review_requested"
    close = Action("petition.close", OTHER_OFFICER, china(2020, 6, 21))
    refuse(state, close, RejectionCode.ILLEGAL_TRANSITION, "'review_requested'")
    state, more = run(
        [
            Action(
                "petition.decide_review",
                OTHER_OFFICER,
                china(2020, 7, 10),
                {"outcome": "revised", "opinion": "变更原处理意见"},
            ),
        ],
        state,
    )
    assert state.status == "reviewed"
    state, last = run([Action("petition.close", OTHER_OFFICER, china(2020, 7, 11))], state)
    assert state.status == "closed"
    assert state.closed_at == china(2020, 7, 11)
    assert_history(
        events + more + last,
        [
            "petition.registered",
            "petition.accepted",
            "petition.assigned",
            "petition.handled",
            "petition.opinion_issued",
            "petition.review_requested",
            "petition.review_decided",
            "petition.closed",
        ],
    )


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
