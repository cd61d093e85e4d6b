"""Complaints (投诉举报): the happy path of DOMAIN.md and every branch."""

from events.decide import fold
from events.errors import RejectionCode
from events.model import CaseType
from events.state import CaseState
from tests.unit.domain.support import (
    MARKET_ENFORCER,
    MEDIATOR,
    PETITION_OFFICER,
    SC,
    XF,
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
    "complaint.register",
    PETITION_OFFICER,
    china(2020, 9, 24),
    example_payload("complaint.register"),
)
ACCEPT = Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25))
MARKET = actor(MARKET_ENFORCER, "officer")


def _assign(at_day: int = 28) -> Action:
    return Action(
        "complaint.assign",
        PETITION_OFFICER,
        china(2020, 9, at_day),
        {"department": SC, "officer_id": MARKET_ENFORCER, "note": "请核实"},
    )


INVESTIGATE = Action("complaint.investigate", MARKET, china(2020, 10, 12), {"findings": "属实"})
REPLY = Action(
    "complaint.reply", MARKET, china(2020, 10, 13), {"reply": "已责令整改", "method": "phone"}
)
CLOSE = Action("complaint.close", MARKET, china(2020, 10, 14))


def test_complaint_happy_path_from_registration_to_closing() -> None:
    steps = [
        (REGISTER, "registered"),
        (ACCEPT, "accepted"),
        (_assign(), "assigned"),
        (INVESTIGATE, "investigated"),
        (REPLY, "replied"),
        (CLOSE, "closed"),
    ]
    state: CaseState | None = None
    events = []
    for action, status in steps:
        state, more = run([action], state)
        events += more
        assert state.status == status, action.type
        assert state.version == len(events)
        assert state.last_hash == events[-1].hash
        if status != "closed":
            assert state.closed_at is None
        if status in ("accepted", "assigned", "investigated"):
            assert [c.rule for c in state.clocks] == ["complaint.reply"], status
        else:
            assert state.clocks == (), status  # none before acceptance, the reply stops it
        if status == "registered":
            assert state.owner_department == XF
            assert state.case_type is CaseType.COMPLAINT
            assert state.opened_at == china(2020, 9, 24)
        if status == "assigned":
            assert state.owner_department == SC
            assert state.assigned_officer == MARKET_ENFORCER
    assert state is not None
    assert_history(
        events,
        [
            "complaint.registered",
            "complaint.accepted",
            "complaint.assigned",
            "complaint.investigated",
            "complaint.replied",
            "complaint.closed",
        ],
    )
    assert state.closed_at == china(2020, 10, 14)
    assert state.clocks == ()
    assert fold(events) == state
    assert events[2].actor.officer_id == PETITION_OFFICER
    assert events[3].actor.department == SC
    assert events[3].department == SC


def test_complaint_reply_clock_runs_fifteen_working_days_from_acceptance() -> None:
    state, _ = run([REGISTER, ACCEPT])
    clock = state.clock("complaint.reply")
    assert clock is not None
    assert clock.due_day().isoformat() == "2020-10-22"


def test_complaint_not_accepted_needs_a_reason_and_is_terminal() -> None:
    state, _ = run([REGISTER])
    missing = parse_rejection(
        "complaint.not_accept", {}, actor=actor(PETITION_OFFICER), occurred_at=china(2020, 9, 25)
    )
    assert missing.code is RejectionCode.MISSING_FIELD
    assert "complaint.not_accept" in missing.message
    assert "payload.reason" in missing.message
    state, event = accepted(
        state,
        "complaint.not_accept",
        {"reason": "不属于本机关职责范围"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 25),
    )
    assert event.type == "complaint.not_accepted"
    assert event.payload == {"reason": "不属于本机关职责范围"}
    assert state.status == "not_accepted"
    assert state.closed_at == china(2020, 9, 25)
    assert state.clocks == ()
    refused = rejected(
        state,
        "complaint.accept",
        None,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "'not_accepted'" in refused.message
    assert state.case_id in refused.message
    reopen = rejected(
        state,
        "case.reopen",
        {"reason": "复查"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "case.reopen" in reopen.message


def test_complaint_can_be_closed_only_after_the_reply() -> None:
    state, _ = run([REGISTER, ACCEPT, _assign(), INVESTIGATE])
    refused = rejected(
        state,
        "complaint.close",
        None,
        RejectionCode.REPLY_REQUIRED,
        actor=MARKET,
        occurred_at=china(2020, 10, 13),
    )
    assert state.case_id in refused.message
    assert "'investigated'" in refused.message


def test_complaint_investigated_twice_and_reassigned() -> None:
    state, events = run(
        [
            REGISTER,
            ACCEPT,
            _assign(),
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
    closed, events = run([REGISTER, ACCEPT, _assign(), INVESTIGATE, REPLY, CLOSE])
    state, event = accepted(
        closed,
        "case.reopen",
        {"reason": "投诉人对答复不满意"},
        actor=MARKET,
        occurred_at=china(2020, 10, 20),
    )
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
    state, _ = run([REGISTER])
    refused = rejected(
        state,
        "complaint.accept",
        None,
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(MEDIATOR),
        occurred_at=china(2020, 9, 25),
    )
    assert "complaint.accept" in refused.message
    assert "mediator" in refused.message
