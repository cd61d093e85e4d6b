"""Enforcement actions (行政执法): the happy path of DOMAIN.md and every branch."""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.errors import RejectionCode
from events.model import CaseType
from tests.unit.domain.support import (
    CASE_ID,
    ENFORCER,
    ENFORCER_2,
    LEGAL_REVIEWER,
    PETITION_OFFICER,
    ZF,
    Action,
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
INVESTIGATING = [REGISTER, FILE, EVIDENCE]
NOTIFIED = [*INVESTIGATING, review(major=False), NOTIFY]
"""A minor case, the party notified of the intended penalty."""
DECLINE = Action(
    "enforcement.decline_filing", ENFORCER, china(2020, 9, 2), {"reason": "违法事实不成立"}
)


def test_enforcement_happy_path_from_source_to_archive() -> None:
    states, events = walk(
        [
            (
                REGISTER,
                "enforcement.source_registered",
                "source_registered",
                ["enforcement.filing"],
            ),
            (FILE, "enforcement.filed", "filed", ["enforcement.decision"]),
            (EVIDENCE, "enforcement.evidence_collected", "investigating", ["enforcement.decision"]),
            (review(major=False), "enforcement.reviewed", "reviewed", ["enforcement.decision"]),
            (NOTIFY, "enforcement.party_notified", "notified", ["enforcement.decision"]),
            (DECIDE, "enforcement.decision_made", "decided", []),
            (SERVE, "enforcement.decision_served", "served", []),
            (EXECUTE, "enforcement.executed", "executed", []),
            (CLOSE, "enforcement.closed", "closed", []),
        ]
    )
    closed = states[-1]
    assert closed.case_type is CaseType.ENFORCEMENT
    assert (closed.owner_department, closed.penalty_amount_fen) == (ZF, 500_000)
    # every enforcement step records the certificate the officer held that day
    assert {e.actor.certificate for e in events} == {"44200120180003", "44200120190006"}
    assert events[2].payload["items"][0]["content_hash"] == "ab" * 32


def test_enforcement_clocks_filing_fifteen_working_days_decision_ninety_days() -> None:
    state, _ = run([REGISTER])
    assert due(state, "enforcement.filing") == date(2020, 9, 22)
    state, _ = run([FILE], state)
    assert due(state, "enforcement.decision") == date(2020, 12, 2)
    assert state.clock("enforcement.filing") is None


def test_enforcement_filing_declined_is_terminal() -> None:
    state, _ = run([REGISTER])
    state, _ = end(state, DECLINE, "enforcement.filing_declined", "filing_declined")
    refuse(state, FILE, RejectionCode.ILLEGAL_TRANSITION)


def test_legal_review_not_approved_goes_back_to_investigating() -> None:
    state, events = run([*INVESTIGATING, review(major=True), legal_review(False)])
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


@pytest.mark.parametrize(
    ("review_major", "decision_major"),
    [
        # the review says major: notice may be given, but the decision is refused
        pytest.param(True, False, id="the-review-says-major"),
        # the review says minor, the decision says major: refused too
        pytest.param(False, True, id="the-decision-says-major"),
    ],
)
def test_major_decision_needs_an_approved_legal_review(
    review_major: bool, decision_major: bool
) -> None:
    state, _ = run([*INVESTIGATING, review(major=review_major), NOTIFY])
    decide = replace(DECIDE, payload=decision(major=decision_major))
    refuse(state, decide, RejectionCode.LEGAL_REVIEW_REQUIRED, CASE_ID, "法制审核")


def test_major_decision_with_an_approved_legal_review_is_accepted() -> None:
    state, events = run(
        [
            *INVESTIGATING,
            review(major=True),
            legal_review(True),
            NOTIFY,
            replace(DECIDE, payload=decision(major=True)),
        ]
    )
    assert state.status == "decided"
    assert state.major
    assert events[4].type == "enforcement.legal_review_recorded"
    assert events[-1].type == "enforcement.decision_made"


def test_hearing_requested_must_be_held_before_the_decision() -> None:
    state, _ = run([*NOTIFIED, Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 18))])
    assert state.status == "hearing_requested"
    refuse(state, DECIDE, RejectionCode.HEARING_REQUIRED, CASE_ID, "hearing")
    hearing = {"record": "当事人到场陈述"}
    state, _ = run(
        [Action("enforcement.hold_hearing", ENFORCER, china(2020, 9, 24), hearing)], state
    )
    assert state.status == "hearing_held"
    state, events = run([DECIDE], state)
    assert state.status == "decided"
    assert events[-1].type == "enforcement.decision_made"


def test_a_fine_is_executed_only_with_the_bank_receipt() -> None:
    state, _ = run([*NOTIFIED, DECIDE, SERVE])
    # blank is missing, not given
    blank = replace(EXECUTE, payload={"bank_receipt": "  ", "note": "已缴纳"})
    refuse_to_parse(blank, RejectionCode.MISSING_FIELD, "bank_receipt")
    cash = replace(EXECUTE, payload={"note": "当事人已现金缴纳"})
    refuse(state, cash, RejectionCode.MISSING_FIELD, "bank_receipt", CASE_ID)
    state, event = take(state, EXECUTE)
    assert state.status == "executed"
    assert event.payload["bank_receipt"] == "GDNX2020101500123"


def test_a_warning_is_executed_without_a_bank_receipt() -> None:
    warning = {"kind": "warning", "amount_fen": 0, "description": "警告"}
    state, _ = run(
        [
            *NOTIFIED,
            replace(DECIDE, payload=decision(penalty=warning)),
            SERVE,
            replace(EXECUTE, payload={"note": "已警告"}),
        ]
    )
    assert state.status == "executed"
    assert state.penalty_amount_fen == 0


@pytest.mark.parametrize(
    "before",
    [
        [REGISTER],
        [REGISTER, FILE],
        INVESTIGATING,
        NOTIFIED,
    ],
    ids=["source_registered", "filed", "investigating", "notified"],
)
def test_case_transferred_to_another_authority_then_closed(before: list[Action]) -> None:
    state, _ = run(before)
    transfer = {"to_authority": "中山市公安局大涌分局", "reason": "涉嫌犯罪"}
    state, event = take(
        state, Action("enforcement.transfer_case", ENFORCER, china(2020, 9, 20), transfer)
    )
    assert event.type == "enforcement.case_transferred"
    assert state.status == "transferred_out"
    assert state.closed_at is None
    close = Action("enforcement.close", ENFORCER, china(2020, 9, 21))
    end(state, close, "enforcement.closed", "closed")


@pytest.mark.parametrize(
    ("before", "step", "says"),
    [
        pytest.param(
            [*NOTIFIED, DECIDE],
            example("enforcement.transfer_case", ENFORCER, china(2020, 9, 26)),
            ("'decided'",),
            id="transfer-to-another-authority-after-the-decision",
        ),
        pytest.param(
            [*INVESTIGATING, review(major=True), legal_review(True)],
            replace(DECIDE, payload=decision(major=True)),
            ("'legally_reviewed'",),
            id="decision-after-the-legal-review-without-notice",
        ),
        pytest.param(
            [*INVESTIGATING, review(major=False)],
            DECIDE,
            ("enforcement.decide", CASE_ID, "'reviewed'", "notified"),
            id="decision-straight-from-the-review-without-notice",
        ),
    ],
)
def test_steps_out_of_turn_are_illegal(
    before: list[Action], step: Action, says: tuple[str, ...]
) -> None:
    state, _ = run(before)
    refuse(state, step, RejectionCode.ILLEGAL_TRANSITION, *says)


def test_enforcement_cannot_be_reopened() -> None:
    state, _ = run([REGISTER, DECLINE])
    reopen = Action("case.reopen", ENFORCER, china(2020, 9, 3), {"reason": "重新调查"})
    refuse(state, reopen, RejectionCode.WRONG_CASE_TYPE, "case.reopen", "enforcement")


def test_enforcement_steps_need_the_enforcement_role() -> None:
    register = replace(REGISTER, actor=PETITION_OFFICER)
    code = RejectionCode.FORBIDDEN_ROLE
    refuse(None, register, code, "enforcement.register_source", "enforcement_officer")
