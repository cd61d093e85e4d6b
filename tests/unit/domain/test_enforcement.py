"""Enforcement actions (行政执法): the happy path of DOMAIN.md and every branch."""

from datetime import date
from typing import Any

import pytest

from events.decide import fold
from events.errors import RejectionCode
from events.model import CaseType
from events.state import CaseState
from tests.unit.domain.support import (
    ENFORCER,
    ENFORCER_2,
    LEGAL_REVIEWER,
    PETITION_OFFICER,
    ZF,
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

FINE = {"kind": "fine", "amount_fen": 500_000, "description": "罚款人民币伍仟元"}
REGISTER = Action(
    "enforcement.register_source",
    ENFORCER,
    china(2020, 9, 1),
    {"source": "日常巡查", "summary": "未经许可擅自经营", "party": {"name": "某五金厂"}},
)
FILE = Action(
    "enforcement.file",
    ENFORCER,
    china(2020, 9, 3),
    {"case_number": "立〔2020〕15号", "cause": "无证"},
)
EVIDENCE = Action(
    "enforcement.collect_evidence",
    ENFORCER_2,
    china(2020, 9, 10),
    {"items": [{"title": "现场照片", "content_hash": "ab" * 32, "media_type": "image/jpeg"}]},
)


def review(major: bool, day: int = 15) -> Action:
    return Action(
        "enforcement.review", ENFORCER, china(2020, 9, day), {"opinion": "事实清楚", "major": major}
    )


def legal_review(approved: bool, day: int = 16) -> Action:
    return Action(
        "enforcement.record_legal_review",
        LEGAL_REVIEWER,
        china(2020, 9, day),
        {"approved": approved, "opinion": "程序合法" if approved else "证据不足"},
    )


NOTIFY = Action(
    "enforcement.notify_party",
    ENFORCER,
    china(2020, 9, 17),
    {"intended_penalty": FINE, "rights": "陈述、申辩及要求听证的权利"},
)


def decision(major: bool = False, penalty: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "decision_number": "罚〔2020〕15号",
        "legal_basis": "《无证无照经营查处办法》第十三条",
        "penalty": penalty or FINE,
        "major": major,
    }


DECIDE = Action("enforcement.decide", ENFORCER, china(2020, 9, 25), decision())
SERVE = Action("enforcement.serve_decision", ENFORCER, china(2020, 9, 27), {"method": "直接送达"})
EXECUTE = Action(
    "enforcement.execute",
    ENFORCER,
    china(2020, 10, 15),
    {"bank_receipt": "GDNX2020101500123", "note": "当事人已缴纳罚款"},
)
CLOSE = Action("enforcement.close", ENFORCER, china(2020, 10, 16))


def test_enforcement_happy_path_from_source_to_archive() -> None:
    steps = [
        (REGISTER, "source_registered", ["enforcement.filing"]),
        (FILE, "filed", ["enforcement.decision"]),
        (EVIDENCE, "investigating", ["enforcement.decision"]),
        (review(major=False), "reviewed", ["enforcement.decision"]),
        (NOTIFY, "notified", ["enforcement.decision"]),
        (DECIDE, "decided", []),
        (SERVE, "served", []),
        (EXECUTE, "executed", []),
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
    assert state.case_type is CaseType.ENFORCEMENT
    assert state.owner_department == ZF
    assert state.penalty_amount_fen == 500_000
    assert state.closed_at == china(2020, 10, 16)
    assert state.clocks == ()
    assert_history(
        events,
        [
            "enforcement.source_registered",
            "enforcement.filed",
            "enforcement.evidence_collected",
            "enforcement.reviewed",
            "enforcement.party_notified",
            "enforcement.decision_made",
            "enforcement.decision_served",
            "enforcement.executed",
            "enforcement.closed",
        ],
    )
    # every enforcement step records the certificate the officer held that day
    assert {e.actor.certificate for e in events} == {"44200120180003", "44200120190006"}
    assert events[2].payload["items"][0]["content_hash"] == "ab" * 32
    assert fold(events) == state


def test_enforcement_clocks_filing_fifteen_working_days_decision_ninety_days() -> None:
    state, _ = run([REGISTER])
    filing = state.clock("enforcement.filing")
    assert filing is not None
    assert filing.due_day() == date(2020, 9, 22)
    state, _ = run([FILE], state)
    decide_by = state.clock("enforcement.decision")
    assert decide_by is not None
    assert decide_by.due_day() == date(2020, 12, 2)
    assert state.clock("enforcement.filing") is None


def test_enforcement_filing_declined_is_terminal() -> None:
    state, _ = run([REGISTER])
    state, event = accepted(
        state,
        "enforcement.decline_filing",
        {"reason": "违法事实不成立"},
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 2),
    )
    assert event.type == "enforcement.filing_declined"
    assert state.status == "filing_declined"
    assert state.closed_at == china(2020, 9, 2)
    assert state.clocks == ()
    rejected(
        state,
        "enforcement.file",
        FILE.payload,
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 3),
    )


def test_legal_review_not_approved_goes_back_to_investigating() -> None:
    state, events = run([REGISTER, FILE, EVIDENCE, review(major=True), legal_review(False)])
    assert state.status == "investigating"
    assert state.major
    assert not state.legal_review_approved
    assert events[-1].type == "enforcement.legal_review_recorded"
    assert events[-1].actor.department == "司法所"
    assert events[-1].actor.certificate is None
    # more evidence, a second review, and this time the legal review approves
    state, _ = run(
        [
            Action("enforcement.collect_evidence", ENFORCER, china(2020, 9, 18), EVIDENCE.payload),
            review(major=True, day=21),
            legal_review(True, day=22),
        ],
        state,
    )
    assert state.status == "legally_reviewed"
    assert state.legal_review_approved


def test_major_decision_needs_an_approved_legal_review() -> None:
    # the review says major: notice may be given, but the decision is refused
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=True), NOTIFY])
    refused = rejected(
        state,
        "enforcement.decide",
        decision(major=False),
        RejectionCode.LEGAL_REVIEW_REQUIRED,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 25),
    )
    assert state.case_id in refused.message
    assert "法制审核" in refused.message
    # the review says minor, the decision says major: refused too
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=False), NOTIFY])
    rejected(
        state,
        "enforcement.decide",
        decision(major=True),
        RejectionCode.LEGAL_REVIEW_REQUIRED,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 25),
    )


def test_major_decision_with_an_approved_legal_review_is_accepted() -> None:
    state, events = run(
        [
            REGISTER,
            FILE,
            EVIDENCE,
            review(major=True),
            legal_review(True),
            NOTIFY,
            Action("enforcement.decide", ENFORCER, china(2020, 9, 25), decision(major=True)),
        ]
    )
    assert state.status == "decided"
    assert state.major
    assert events[4].type == "enforcement.legal_review_recorded"
    assert events[-1].type == "enforcement.decision_made"


def test_hearing_requested_must_be_held_before_the_decision() -> None:
    state, _ = run(
        [
            REGISTER,
            FILE,
            EVIDENCE,
            review(major=False),
            NOTIFY,
            Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 18)),
        ]
    )
    assert state.status == "hearing_requested"
    refused = rejected(
        state,
        "enforcement.decide",
        decision(),
        RejectionCode.HEARING_REQUIRED,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 25),
    )
    assert state.case_id in refused.message
    assert "hearing" in refused.message
    state, _ = run(
        [
            Action(
                "enforcement.hold_hearing",
                ENFORCER,
                china(2020, 9, 24),
                {"record": "当事人到场陈述"},
            ),
        ],
        state,
    )
    assert state.status == "hearing_held"
    state, events = run([DECIDE], state)
    assert state.status == "decided"
    assert events[-1].type == "enforcement.decision_made"


def test_a_fine_is_executed_only_with_the_bank_receipt() -> None:
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=False), NOTIFY, DECIDE, SERVE])
    blank = parse_rejection(
        "enforcement.execute",
        {"bank_receipt": "  ", "note": "已缴纳"},
        actor=actor(ENFORCER),
        occurred_at=china(2020, 10, 15),
    )
    assert blank.code is RejectionCode.MISSING_FIELD  # blank is missing, not given
    assert "bank_receipt" in blank.message
    for payload in ({"note": "当事人已现金缴纳"},):
        refused = rejected(
            state,
            "enforcement.execute",
            payload,
            RejectionCode.MISSING_FIELD,
            actor=actor(ENFORCER),
            occurred_at=china(2020, 10, 15),
        )
        assert "bank_receipt" in refused.message
        assert state.case_id in refused.message
    state, event = accepted(
        state,
        "enforcement.execute",
        EXECUTE.payload,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 10, 15),
    )
    assert state.status == "executed"
    assert event.payload["bank_receipt"] == "GDNX2020101500123"


def test_a_warning_is_executed_without_a_bank_receipt() -> None:
    warning = {"kind": "warning", "amount_fen": 0, "description": "警告"}
    state, _ = run(
        [
            REGISTER,
            FILE,
            EVIDENCE,
            review(major=False),
            NOTIFY,
            Action("enforcement.decide", ENFORCER, china(2020, 9, 25), decision(penalty=warning)),
            SERVE,
            Action("enforcement.execute", ENFORCER, china(2020, 10, 15), {"note": "已警告"}),
        ]
    )
    assert state.status == "executed"
    assert state.penalty_amount_fen == 0


@pytest.mark.parametrize(
    "before",
    [
        [REGISTER],
        [REGISTER, FILE],
        [REGISTER, FILE, EVIDENCE],
        [REGISTER, FILE, EVIDENCE, review(major=False), NOTIFY],
    ],
    ids=["source_registered", "filed", "investigating", "notified"],
)
def test_case_transferred_to_another_authority_then_closed(before: list[Action]) -> None:
    state, _ = run(before)
    state, event = accepted(
        state,
        "enforcement.transfer_case",
        {"to_authority": "中山市公安局大涌分局", "reason": "涉嫌犯罪"},
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 20),
    )
    assert event.type == "enforcement.case_transferred"
    assert state.status == "transferred_out"
    assert state.closed_at is None
    state, _ = run([Action("enforcement.close", ENFORCER, china(2020, 9, 21))], state)
    assert state.status == "closed"
    assert state.closed_at == china(2020, 9, 21)
    assert state.clocks == ()


def test_no_transfer_to_another_authority_after_the_decision() -> None:
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=False), NOTIFY, DECIDE])
    refused = rejected(
        state,
        "enforcement.transfer_case",
        example_payload("enforcement.transfer_case"),
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 26),
    )
    assert "'decided'" in refused.message


def test_no_decision_after_the_legal_review_without_notice() -> None:
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=True), legal_review(True)])
    refused = rejected(
        state,
        "enforcement.decide",
        decision(major=True),
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 25),
    )
    assert "'legally_reviewed'" in refused.message


def test_no_decision_straight_from_review_without_notice() -> None:
    state, _ = run([REGISTER, FILE, EVIDENCE, review(major=False)])
    refused = rejected(
        state,
        "enforcement.decide",
        decision(),
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 25),
    )
    assert "enforcement.decide" in refused.message
    assert state.case_id in refused.message
    assert "'reviewed'" in refused.message
    assert "notified" in refused.message


def test_enforcement_cannot_be_reopened() -> None:
    state, _ = run(
        [
            REGISTER,
            Action(
                "enforcement.decline_filing",
                ENFORCER,
                china(2020, 9, 2),
                {"reason": "违法事实不成立"},
            ),
        ]
    )
    refused = rejected(
        state,
        "case.reopen",
        {"reason": "重新调查"},
        RejectionCode.WRONG_CASE_TYPE,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 9, 3),
    )
    assert "case.reopen" in refused.message
    assert "enforcement" in refused.message


def test_enforcement_steps_need_the_enforcement_role() -> None:
    refused = rejected(
        None,
        "enforcement.register_source",
        REGISTER.payload,
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 1),
    )
    assert "enforcement.register_source" in refused.message
    assert "enforcement_officer" in refused.message
