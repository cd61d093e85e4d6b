"""People's mediation (人民调解): the happy path of DOMAIN.md and every branch."""

from datetime import date

import pytest

from events.decide import fold
from events.errors import RejectionCode
from events.model import CaseType
from events.state import CaseState
from tests.unit.domain.support import (
    MEDIATOR,
    MEDIATOR_2,
    PETITION_OFFICER,
    TJ,
    Action,
    accepted,
    actor,
    assert_history,
    china,
    parse_rejection,
    rejected,
    run,
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
    steps = [
        (ACCEPT, "accepted", ["mediation.conclusion"]),
        (ASSIGN, "mediator_assigned", ["mediation.conclusion"]),
        (SESSION, "in_session", ["mediation.conclusion"]),
        (
            Action("mediation.hold_session", MEDIATOR_2, china(2020, 7, 10), {"notes": "第二次"}),
            "in_session",
            ["mediation.conclusion"],
        ),
        (AGREE, "agreed", []),
        (FOLLOW_UP, "followed_up", []),
        (CLOSE, "closed", []),
    ]
    state: CaseState | None = None
    events = []
    for action, status, clocks in steps:
        state, more = run([action], state)
        events += more
        assert state.status == status, action.type
        assert [c.rule for c in state.clocks] == clocks, status
        if status != "closed":
            assert state.closed_at is None
    assert state is not None
    assert state.case_type is CaseType.MEDIATION
    assert state.owner_department == TJ
    assert state.assigned_officer == MEDIATOR_2
    assert state.closed_at == china(2020, 8, 17)
    assert state.clocks == ()
    assert_history(
        events,
        [
            "mediation.accepted",
            "mediation.mediator_assigned",
            "mediation.session_held",
            "mediation.session_held",
            "mediation.agreement_reached",
            "mediation.followed_up",
            "mediation.closed",
        ],
    )
    assert events[0].payload["amount_in_dispute_fen"] == 12_000_000
    assert events[4].payload["amount_fen"] == 10_000_000
    assert fold(events) == state


def test_mediation_conclusion_clock_is_thirty_days() -> None:
    state, _ = run([ACCEPT])
    clock = state.clock("mediation.conclusion")
    assert clock is not None
    assert clock.due_day() == date(2020, 7, 31)


@pytest.mark.parametrize("after", [[ASSIGN], [ASSIGN, SESSION]], ids=["assigned", "in_session"])
def test_mediation_failed_then_closed(after: list[Action]) -> None:
    state, _ = run([ACCEPT, *after])
    missing = parse_rejection(
        "mediation.record_failure",
        {"reason": "双方分歧较大"},
        actor=actor(MEDIATOR_2),
        occurred_at=china(2020, 7, 20),
    )
    assert missing.code is RejectionCode.MISSING_FIELD
    assert "payload.remedies_told" in missing.message
    state, event = accepted(
        state,
        "mediation.record_failure",
        {"reason": "双方分歧较大", "remedies_told": "可向法院起诉"},
        actor=actor(MEDIATOR_2),
        occurred_at=china(2020, 7, 20),
    )
    assert event.type == "mediation.failed"
    assert state.status == "failed"
    assert state.clocks == ()  # failing stops the conclusion clock
    assert state.closed_at is None
    refused = rejected(
        state,
        "mediation.follow_up",
        {"performed": False},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(MEDIATOR_2),
        occurred_at=china(2020, 7, 21),
    )
    assert "'failed'" in refused.message
    state, _ = run([Action("mediation.close", MEDIATOR, china(2020, 7, 22))], state)
    assert state.status == "closed"
    assert state.closed_at == china(2020, 7, 22)


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
    refused = rejected(
        state,
        "mediation.reach_agreement",
        {"amount_fen": 1, "terms": "t"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(MEDIATOR_2),
        occurred_at=china(2020, 7, 3),
    )
    assert "mediation.reach_agreement" in refused.message
    assert "in_session" in refused.message  # names where it is allowed from
    state, _ = run([SESSION, AGREE], state)
    rejected(
        state,
        "mediation.close",
        None,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(MEDIATOR_2),
        occurred_at=china(2020, 7, 16),
    )


def test_mediation_needs_two_parties_and_a_non_negative_amount() -> None:
    one = parse_rejection(
        "mediation.accept",
        {"dispute": "纠纷", "parties": [{"name": "甲"}], "amount_in_dispute_fen": 0},
        actor=actor(MEDIATOR),
        occurred_at=china(2020, 7, 1),
    )
    assert one.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.parties" in one.message
    negative = parse_rejection(
        "mediation.accept",
        {
            "dispute": "纠纷",
            "parties": [{"name": "甲"}, {"name": "乙"}],
            "amount_in_dispute_fen": -1,
        },
        actor=actor(MEDIATOR),
        occurred_at=china(2020, 7, 1),
    )
    assert negative.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.amount_in_dispute_fen" in negative.message


def test_mediation_cannot_be_reopened() -> None:
    state, _ = run([ACCEPT, ASSIGN, SESSION, AGREE, FOLLOW_UP, CLOSE])
    refused = rejected(
        state,
        "case.reopen",
        {"reason": "当事人反悔"},
        RejectionCode.WRONG_CASE_TYPE,
        actor=actor(MEDIATOR),
        occurred_at=china(2020, 9, 1),
    )
    assert "case.reopen" in refused.message
    assert state.case_id in refused.message
    assert "mediation" in refused.message


def test_mediation_steps_need_a_mediator() -> None:
    refused = rejected(
        None,
        "mediation.accept",
        ACCEPT.payload,
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 7, 1),
    )
    assert "mediation.accept" in refused.message
    assert "mediator" in refused.message
