"""Petitions (信访): the happy path of DOMAIN.md and every branch."""

from datetime import date

from events.decide import fold
from events.errors import RejectionCode
from events.model import CaseType
from events.state import CaseState
from tests.unit.domain.support import (
    OTHER_OFFICER,
    PETITION_OFFICER,
    XF,
    ZX,
    Action,
    accepted,
    actor,
    assert_history,
    china,
    example_payload,
    parse_rejection,
    rejected,
    run,
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
    steps = [
        (REGISTER, "registered", ["petition.acceptance"]),
        (ACCEPT, "accepted", ["petition.handling"]),
        (ASSIGN, "assigned", ["petition.handling"]),
        (HANDLE, "handled", ["petition.handling"]),
        (OPINION, "opinion_issued", []),
        (CLOSE, "closed", []),
    ]
    state: CaseState | None = None
    events = []
    for action, status, clocks in steps:
        state, more = run([action], state)
        events += more
        assert state.status == status, action.type
        assert [c.rule for c in state.clocks] == clocks, status
        assert state.version == len(events)
        if status != "closed":
            assert state.closed_at is None
    assert state is not None
    assert state.case_type is CaseType.PETITION
    assert state.owner_department == ZX
    assert state.assigned_officer == OTHER_OFFICER
    assert state.closed_at == china(2020, 6, 16)
    assert state.clocks == ()
    assert_history(
        events,
        [
            "petition.registered",
            "petition.accepted",
            "petition.assigned",
            "petition.handled",
            "petition.opinion_issued",
            "petition.closed",
        ],
    )
    assert events[0].payload["channel"] == "visit"
    assert events[0].payload["persons"] == 3
    assert fold(events) == state


def test_petition_clocks_acceptance_fifteen_days_handling_sixty() -> None:
    state, _ = run([REGISTER])
    acceptance = state.clock("petition.acceptance")
    assert acceptance is not None
    assert acceptance.due_day() == date(2020, 6, 16)
    state, _ = run([ACCEPT], state)
    handling = state.clock("petition.handling")
    assert handling is not None
    # 2020-06-03 + 60 days is Sunday 2020-08-02: the period ends on the next working day
    assert handling.due_day() == date(2020, 8, 3)
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
    missing = parse_rejection(
        "petition.not_accept", None, actor=actor(PETITION_OFFICER), occurred_at=china(2020, 6, 2)
    )
    assert missing.code is RejectionCode.MISSING_FIELD
    assert "petition.not_accept.payload" in missing.message
    blank = parse_rejection(
        "petition.not_accept",
        {"reason": ""},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 2),
    )
    assert blank.code is RejectionCode.MISSING_FIELD  # blank is missing
    assert "payload.reason" in blank.message
    state, event = accepted(
        state,
        "petition.not_accept",
        {"reason": "已经司法程序处理"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 2),
    )
    assert event.type == "petition.not_accepted"
    assert state.status == "not_accepted"
    assert state.closed_at == china(2020, 6, 2)
    assert state.clocks == ()
    rejected(
        state,
        "petition.accept",
        None,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 3),
    )


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
    refused = rejected(
        state,
        "petition.close",
        None,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 6, 21),
    )
    assert "'review_requested'" in refused.message
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
    refused = parse_rejection(
        "petition.decide_review",
        {"outcome": "quashed", "opinion": "撤销"},
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 7, 10),
    )
    assert refused.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.outcome" in refused.message


def test_petition_reopened_after_closing_returns_to_assigned() -> None:
    closed, events = run([REGISTER, ACCEPT, ASSIGN, HANDLE, OPINION, CLOSE])
    state, event = accepted(
        closed,
        "case.reopen",
        {"reason": "上级督办要求重新办理"},
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 7, 1),
    )
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


def test_petition_close_needs_the_written_opinion() -> None:
    for steps in (
        [REGISTER, ACCEPT],
        [REGISTER, ACCEPT, ASSIGN],
        [REGISTER, ACCEPT, ASSIGN, HANDLE],
    ):
        state, _ = run(steps)
        refused = rejected(
            state,
            "petition.close",
            None,
            RejectionCode.REPLY_REQUIRED,
            actor=actor(OTHER_OFFICER if state.owner_department == ZX else PETITION_OFFICER),
            occurred_at=china(2020, 6, 30),
        )
        assert state.case_id in refused.message
        assert f"'{state.status}'" in refused.message


def test_petition_registration_payload_rules() -> None:
    zero = parse_rejection(
        "petition.register",
        {**example_payload("petition.register"), "persons": 0},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 1),
    )
    assert zero.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.persons" in zero.message
    fax = parse_rejection(
        "petition.register",
        {**example_payload("petition.register"), "channel": "fax"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 1),
    )
    assert fax.code is RejectionCode.INVALID_PAYLOAD
    assert "payload.channel" in fax.message
