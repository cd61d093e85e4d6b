"""People's mediation (人民调解): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace
from datetime import date

import pytest

from events.errors import RejectionCode
from events.model import CaseType
from tests.unit.domain.support import (
    CASE_ID,
    MEDIATOR,
    MEDIATOR_2,
    PETITION_OFFICER,
    TJ,
    Action,
    china,
    due,
    end,
    refuse,
    refuse_to_parse,
    run,
    take,
    walk,
)

ACCEPT = Action(
    "mediation.accept",
    MEDIATOR,
    china(2020, 7, 1),
    {
        "dispute": "厂房租赁合同纠纷",
        "parties": [{"name": "甲"}, {"name": "乙"}],
        "amount_in_dispute_fen": 12_000_000,
    },
)
ASSIGN = Action(
    "mediation.assign_mediator", MEDIATOR, china(2020, 7, 2), {"mediator_id": MEDIATOR_2}
)
SESSION = Action("mediation.hold_session", MEDIATOR_2, china(2020, 7, 8), {"notes": "双方陈述意见"})
AGREE = Action(
    "mediation.reach_agreement",
    MEDIATOR_2,
    china(2020, 7, 15),
    {"amount_fen": 10_000_000, "terms": "乙方分两期支付租金"},
)
FOLLOW_UP = Action(
    "mediation.follow_up", MEDIATOR_2, china(2020, 8, 15), {"performed": True, "notes": "已履行"}
)
CLOSE = Action("mediation.close", MEDIATOR_2, china(2020, 8, 17))


def test_mediation_happy_path_from_acceptance_to_closing() -> None:
    second_session = replace(SESSION, at=china(2020, 7, 10), payload={"notes": "第二次"})
    states, events = walk(
        [
            (ACCEPT, "mediation.accepted", "accepted", ["mediation.conclusion"]),
            (ASSIGN, "mediation.mediator_assigned", "mediator_assigned", ["mediation.conclusion"]),
            (SESSION, "mediation.session_held", "in_session", ["mediation.conclusion"]),
            (second_session, "mediation.session_held", "in_session", ["mediation.conclusion"]),
            (AGREE, "mediation.agreement_reached", "agreed", []),
            (FOLLOW_UP, "mediation.followed_up", "followed_up", []),
            (CLOSE, "mediation.closed", "closed", []),
        ]
    )
    closed = states[-1]
    assert closed.case_type is CaseType.MEDIATION
    assert (closed.owner_department, closed.assigned_officer) == (TJ, MEDIATOR_2)
    assert events[0].payload["amount_in_dispute_fen"] == 12_000_000
    assert events[4].payload["amount_fen"] == 10_000_000


def test_mediation_conclusion_clock_is_thirty_days() -> None:
    state, _ = run([ACCEPT])
    assert due(state, "mediation.conclusion") == date(2020, 7, 31)


@pytest.mark.parametrize("after", [[ASSIGN], [ASSIGN, SESSION]], ids=["assigned", "in_session"])
def test_mediation_failed_then_closed(after: list[Action]) -> None:
    state, _ = run([ACCEPT, *after])
    failure = Action(
        "mediation.record_failure", MEDIATOR_2, china(2020, 7, 20), {"reason": "双方分歧较大"}
    )
    refuse_to_parse(failure, RejectionCode.MISSING_FIELD, "payload.remedies_told")
    told = {"reason": "双方分歧较大", "remedies_told": "可向法院起诉"}
    state, event = take(state, replace(failure, payload=told))
    assert event.type == "mediation.failed"
    assert state.status == "failed"
    assert state.clocks == ()  # failing stops the conclusion clock
    assert state.closed_at is None
    follow_up = Action("mediation.follow_up", MEDIATOR_2, china(2020, 7, 21), {"performed": False})
    refuse(state, follow_up, RejectionCode.ILLEGAL_TRANSITION, "'failed'")
    close = Action("mediation.close", MEDIATOR, china(2020, 7, 22))
    end(state, close, "mediation.closed", "closed")


def test_mediation_judicial_confirmation_then_follow_up_and_close() -> None:
    state, events = run(
        [
            ACCEPT,
            ASSIGN,
            SESSION,
            AGREE,
            Action(
                "mediation.confirm_judicially",
                MEDIATOR_2,
                china(2020, 7, 30),
                {"court": "中山市第二人民法院", "ruling_number": "(2020)粤2072民特123号"},
            ),
        ]
    )
    assert state.status == "judicially_confirmed"
    assert events[-1].type == "mediation.judicially_confirmed"
    state, _ = run([FOLLOW_UP, CLOSE], state)
    assert state.status == "closed"


def test_mediation_agreement_needs_a_session_and_closing_a_follow_up() -> None:
    state, _ = run([ACCEPT, ASSIGN])
    illegal = RejectionCode.ILLEGAL_TRANSITION
    agree = replace(AGREE, at=china(2020, 7, 3), payload={"amount_fen": 1, "terms": "t"})
    # the last names where it is allowed from
    refuse(state, agree, illegal, "mediation.reach_agreement", "in_session")
    state, _ = run([SESSION, AGREE], state)
    refuse(state, replace(CLOSE, at=china(2020, 7, 16)), illegal)


@pytest.mark.parametrize(
    ("parties", "amount", "field"),
    [
        ([{"name": "甲"}], 0, "payload.parties"),
        ([{"name": "甲"}, {"name": "乙"}], -1, "payload.amount_in_dispute_fen"),
    ],
    ids=["one-party", "negative-amount"],
)
def test_mediation_needs_two_parties_and_a_non_negative_amount(
    parties: list[dict[str, str]], amount: int, field: str
) -> None:
    payload = {"dispute": "纠纷", "parties": parties, "amount_in_dispute_fen": amount}
    accept = replace(ACCEPT, payload=payload)
    refuse_to_parse(accept, RejectionCode.INVALID_PAYLOAD, field)


def test_mediation_cannot_be_reopened() -> None:
    state, _ = run([ACCEPT, ASSIGN, SESSION, AGREE, FOLLOW_UP, CLOSE])
    reopen = Action("case.reopen", MEDIATOR, china(2020, 9, 1), {"reason": "当事人反悔"})
    refuse(state, reopen, RejectionCode.WRONG_CASE_TYPE, "case.reopen", CASE_ID, "mediation")


def test_mediation_steps_need_a_mediator() -> None:
    accept = replace(ACCEPT, actor=PETITION_OFFICER)
    refuse(None, accept, RejectionCode.FORBIDDEN_ROLE, "mediation.accept", "mediator")
