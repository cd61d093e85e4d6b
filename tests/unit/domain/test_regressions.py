"""Bugs found in events/ by the domain tests, each kept as a test of the fixed behaviour."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from events.errors import Rejection, RejectionCode
from events.submissions import parse_submission
from tests.unit.domain.support import (
    ACCEPT_COMPLAINT,
    CASE_ID,
    ENFORCER,
    OFFICERS,
    OTHER_OFFICER,
    PETITION_OFFICER,
    REGISTER_COMPLAINT,
    SUPERVISOR,
    SYSTEM,
    ZX,
    Action,
    actor,
    china,
    example,
    example_payload,
    refuse,
    refuse_to_parse,
    run,
    submission,
    take,
)
from tests.unit.domain.test_complaint import CLOSED as COMPLAINT_CLOSED
from tests.unit.domain.test_complaint import MARKET
from tests.unit.domain.test_enforcement import (
    DECIDE,
    DISCUSS,
    EVIDENCE,
    FILE,
    NOTIFY,
    decision,
    legal_review,
    review,
)
from tests.unit.domain.test_enforcement import REGISTER as SOURCE

NOT_ACCEPT = Action(
    "complaint.not_accept", PETITION_OFFICER, china(2020, 9, 25), {"reason": "不属于本机关职责范围"}
)
PETITION_CLOSED = [
    example("petition.register", PETITION_OFFICER, china(2020, 6, 1)),
    Action("petition.accept", PETITION_OFFICER, china(2020, 6, 3)),
    Action("petition.assign", PETITION_OFFICER, china(2020, 6, 4), {"department": ZX}),
    Action("petition.handle", OTHER_OFFICER, china(2020, 6, 10), {"record": "已协调"}),
    Action("petition.issue_opinion", OTHER_OFFICER, china(2020, 6, 15), {"opinion": "诉求合理"}),
    Action("petition.close", OTHER_OFFICER, china(2020, 6, 16)),
]


@pytest.mark.parametrize(
    "history", [[REGISTER_COMPLAINT, NOT_ACCEPT], PETITION_CLOSED], ids=["not_accepted", "closed"]
)
def test_a_supervision_note_on_a_closed_case_keeps_its_closing_time(
    history: list[Action],
) -> None:
    closed, _ = run(history)
    assert closed.closed_at == history[-1].at
    note = {"note": "请总结办理经验"}
    state, event = take(
        closed, Action("case.note_supervision", SUPERVISOR, china(2020, 12, 1), note)
    )
    assert event.type == "case.supervision_noted"
    assert state.status == closed.status
    assert state.closed_at == history[-1].at  # today: 2020-12-01, the note's time


@pytest.mark.parametrize("instant", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+08:00"])
def test_an_out_of_range_instant_is_rejected_not_raised(instant: str) -> None:
    raw = submission(
        CASE_ID,
        "complaint.accept",
        None,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 1, 1),
    )
    raw["occurred_at"] = instant
    result = parse_submission(raw)
    assert isinstance(result, Rejection)
    assert result.code is RejectionCode.INVALID_PAYLOAD
    assert "occurred_at" in result.message


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("complaint.accept", None),
        ("enforcement.register_source", example_payload("enforcement.register_source")),
    ],
)
def test_a_step_at_the_end_of_time_is_rejected_before_deciding(
    type_: str, payload: dict[str, object] | None
) -> None:
    """Once accepted by decide, 9999-12-31T20:00Z could not be folded (its China day does not
    exist); now such an instant never parses."""
    end_of_time = Action(type_, ENFORCER, datetime(9999, 12, 31, 20, 0, tzinfo=UTC), payload)
    refuse_to_parse(end_of_time, RejectionCode.INVALID_PAYLOAD, "occurred_at")


@pytest.mark.parametrize(
    ("occurred_at", "says"),
    [
        pytest.param(
            china(2020, 10, 1), "later than the time of recording", id="recorded-before-it-happens"
        ),
        pytest.param(
            china(2019, 1, 1), "before the last step", id="happened-before-the-case-s-last-step"
        ),
    ],
)
def test_a_step_cannot_be_recorded_out_of_order(occurred_at: datetime, says: str) -> None:
    state, _ = run([REGISTER_COMPLAINT])
    accept = Action("complaint.accept", PETITION_OFFICER, occurred_at)
    code = RejectionCode.INVALID_PAYLOAD
    refuse(state, accept, code, says, recorded_at=china(2020, 9, 25))


# --- rules the domain tests showed were missing ----------------------------------------------


def test_a_refused_legal_review_cannot_be_talked_away_by_a_new_review() -> None:
    state, _ = run([SOURCE, FILE, EVIDENCE, review(major=True), legal_review(approved=False)])
    assert state.status == "investigating"
    state, _ = run(
        [
            Action("enforcement.collect_evidence", ENFORCER, china(2020, 9, 18), EVIDENCE.payload),
            review(major=False, day=19),
            Action("enforcement.notify_party", ENFORCER, china(2020, 9, 20), NOTIFY.payload),
        ],
        state,
    )
    assert state.major  # the first review's finding stands
    decide = replace(DECIDE, payload=decision(major=False))
    refuse(state, decide, RejectionCode.LEGAL_REVIEW_REQUIRED, CASE_ID)


def test_a_decision_found_major_after_the_notice_can_still_be_reviewed_and_made() -> None:
    state, _ = run([SOURCE, FILE, EVIDENCE, review(major=False), NOTIFY])
    major = replace(DECIDE, payload=decision(major=True))
    refuse(state, major, RejectionCode.LEGAL_REVIEW_REQUIRED)
    state, _ = run([legal_review(approved=True, day=20)], state)
    assert state.status == "notified"  # the review does not undo the notice
    # a major penalty is decided by the heads' collective discussion (行政处罚法 第五十七条第二款)
    refuse(state, major, RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED)
    state, _ = run([DISCUSS], state)
    state, _ = run([major], state)
    assert state.status == "decided"


def test_transferring_an_enforcement_case_out_stops_its_clocks() -> None:
    transfer = {"to_authority": "公安分局", "reason": "涉嫌犯罪"}
    state, _ = run(
        [SOURCE, FILE, Action("enforcement.transfer_case", ENFORCER, china(2020, 9, 5), transfer)]
    )
    assert state.status == "transferred_out"
    assert state.clocks == ()


def test_reopening_restarts_the_reply_clock() -> None:
    state, _ = run(COMPLAINT_CLOSED)
    assert state.clocks == ()
    reopen = {"reason": "群众反映复发"}
    state, _ = run([Action("case.reopen", MARKET, china(2020, 11, 2), reopen)], state)
    (clock,) = state.clocks
    assert clock.rule == "complaint.reply"
    assert clock.started_on.isoformat() == "2020-11-02"


@pytest.mark.parametrize(
    ("type_", "payload", "complaint"),
    [
        (
            "case.transfer",
            {"to_department": "不存在的部门", "reason": "转办"},
            "unknown department",
        ),
        ("case.transfer", {"to_department": "信访办", "reason": "转办"}, "already owned"),
        ("complaint.assign", {"department": "不存在的部门"}, "unknown department"),
        (
            "complaint.assign",
            {"department": "信访办", "officer_id": "DY-ZF-03"},
            "not an officer of 信访办",
        ),
    ],
)
def test_transfers_and_assignments_name_real_departments_and_officers(
    type_: str, payload: dict[str, object], complaint: str
) -> None:
    state, _ = run([REGISTER_COMPLAINT, ACCEPT_COMPLAINT])
    step = Action(type_, PETITION_OFFICER, china(2020, 9, 26), payload)
    refuse(state, step, RejectionCode.INVALID_PAYLOAD, complaint)


def test_a_mediator_must_be_a_mediator() -> None:
    assert all(o.officer_id != "DY-XF-01" or "mediator" not in o.roles for o in OFFICERS.values())
    state, _ = run([example("mediation.accept", "DY-TJ-01", china(2020, 5, 1))])
    assign = Action(
        "mediation.assign_mediator", "DY-TJ-01", china(2020, 5, 2), {"mediator_id": "DY-XF-01"}
    )
    refuse(state, assign, RejectionCode.INVALID_PAYLOAD, "not a mediator")


def test_an_extended_deadline_can_be_breached_again() -> None:
    def breach(at: datetime) -> Action:
        return Action("case.record_deadline_breach", SYSTEM, at, {"clock": "petition.handling"})

    state, _ = run(PETITION_CLOSED[:2])  # registered, accepted: petition.handling runs
    clock = state.clock("petition.handling")
    assert clock is not None
    first_due = clock.due_at()
    state, _ = take(state, breach(first_due + timedelta(hours=1)))
    state, _ = run(
        [
            Action(
                "case.extend",
                PETITION_OFFICER,
                first_due + timedelta(hours=2),
                {"clock": "petition.handling", "days": 30, "reason": "情况复杂，经负责人批准"},
            )
        ],
        state,
    )
    extended = state.clock("petition.handling")
    assert extended is not None
    assert extended.due_at() > first_due
    state, event = take(state, breach(extended.due_at() + timedelta(hours=1)))
    assert event.type == "case.deadline_breached"
    assert len([s for s in state.signals if s.startswith("petition.handling:red:")]) == 2


def test_a_fine_needs_an_amount() -> None:
    fine = {"kind": "fine", "amount_fen": 0, "description": "罚款"}
    decide = replace(DECIDE, payload=decision(penalty=fine))
    refuse_to_parse(decide, RejectionCode.INVALID_PAYLOAD, "amount_fen")
