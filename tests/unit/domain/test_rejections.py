"""Every rejection code of events.errors, each from a realistic submission, with its message.

The order of the checks is the one lifecycle.py documents: each rejection names the first thing
wrong.
"""

from datetime import UTC, datetime

import pytest

from events.errors import RejectionCode
from events.officers import SYSTEM_CLOCK_ID
from events.state import CaseState
from tests.unit.domain.support import (
    ENFORCER,
    EXPIRED_ENFORCER,
    LEGAL_REVIEWER,
    MARKET_ENFORCER,
    OTHER_OFFICER,
    PETITION_OFFICER,
    PETITION_OFFICER_2,
    SC,
    SUPERVISOR,
    SYSTEM,
    UNCERTIFIED_ENFORCER,
    XF,
    ZX,
    Action,
    accepted,
    actor,
    china,
    example_payload,
    parse_rejection,
    rejected,
    run,
)

COMPLAINT = [
    Action(
        "complaint.register",
        PETITION_OFFICER,
        china(2020, 9, 24),
        example_payload("complaint.register"),
    ),
    Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25)),
]
PETITION = [
    Action(
        "petition.register",
        PETITION_OFFICER,
        china(2020, 6, 1),
        example_payload("petition.register"),
    ),
    Action("petition.accept", PETITION_OFFICER, china(2020, 6, 1)),
]
ENFORCEMENT_SOURCE = Action(
    "enforcement.register_source",
    ENFORCER,
    china(2020, 6, 1),
    example_payload("enforcement.register_source"),
)


def complaint() -> CaseState:
    return run(COMPLAINT)[0]


def petition() -> CaseState:
    return run(PETITION)[0]


def enforcement_until(last: str) -> CaseState:
    """An enforcement case by ENFORCER, advanced to (and including) the step ``last``."""
    steps = [
        ENFORCEMENT_SOURCE,
        Action(
            "enforcement.file", ENFORCER, china(2020, 6, 2), example_payload("enforcement.file")
        ),
        Action(
            "enforcement.collect_evidence",
            ENFORCER,
            china(2020, 6, 5),
            example_payload("enforcement.collect_evidence"),
        ),
        Action(
            "enforcement.review",
            ENFORCER,
            china(2020, 6, 8),
            {"opinion": "事实清楚", "major": True},
        ),
    ]
    names = [s.type for s in steps]
    return run(steps[: names.index(last) + 1])[0]


# --- the case and its type ----------------------------------------------------------------------


def test_unknown_case() -> None:
    refused = rejected(
        None,
        "complaint.accept",
        None,
        RejectionCode.UNKNOWN_CASE,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 25),
        case_id="TS-2020-0404",
    )
    assert "TS-2020-0404" in refused.message


@pytest.mark.parametrize("opening", ["complaint.register", "petition.register"])
def test_case_exists(opening: str) -> None:
    state = complaint()
    refused = rejected(
        state,
        opening,
        example_payload(opening),
        RejectionCode.CASE_EXISTS,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert state.case_id in refused.message
    assert "complaint" in refused.message
    assert "version 2" in refused.message


def test_wrong_case_type() -> None:
    state = complaint()
    refused = rejected(
        state,
        "petition.handle",
        {"record": "办理"},
        RejectionCode.WRONG_CASE_TYPE,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "petition.handle" in refused.message
    assert state.case_id in refused.message
    assert "complaint" in refused.message


def test_version_conflict() -> None:
    state = complaint()
    refused = rejected(
        state,
        "complaint.assign",
        {"department": XF},
        RejectionCode.VERSION_CONFLICT,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
        expected_version=1,
    )
    assert state.case_id in refused.message
    assert "expected_version 1" in refused.message
    assert "version 2" in refused.message
    state, event = accepted(
        state,
        "complaint.assign",
        {"department": XF},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
        expected_version=2,
    )
    assert event.version == 3


def test_version_of_a_new_case_is_zero() -> None:
    register = COMPLAINT[0]
    refused = rejected(
        None,
        register.type,
        register.payload,
        RejectionCode.VERSION_CONFLICT,
        actor=actor(PETITION_OFFICER),
        occurred_at=register.at,
        expected_version=1,
    )
    assert "version 0" in refused.message
    _, event = accepted(
        None,
        register.type,
        register.payload,
        actor=actor(PETITION_OFFICER),
        occurred_at=register.at,
        expected_version=0,
    )
    assert event.version == 1


# --- who may act --------------------------------------------------------------------------------


def test_forbidden_role_unknown_officer() -> None:
    refused = rejected(
        complaint(),
        "complaint.assign",
        {"department": XF},
        RejectionCode.FORBIDDEN_ROLE,
        actor={"officer_id": "DY-XX-99", "role": "officer", "department": XF},
        occurred_at=china(2020, 9, 26),
    )
    assert "unknown officer DY-XX-99" in refused.message


def test_forbidden_role_officer_claiming_another_department() -> None:
    refused = rejected(
        complaint(),
        "complaint.assign",
        {"department": XF},
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(OTHER_OFFICER, department=XF),
        occurred_at=china(2020, 9, 26),
    )
    assert OTHER_OFFICER in refused.message
    assert ZX in refused.message
    assert XF in refused.message


def test_forbidden_role_officer_claiming_a_role_they_lack() -> None:
    refused = rejected(
        complaint(),
        "case.note_supervision",
        {"note": "请加快办理"},
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(PETITION_OFFICER, role="supervisor"),
        occurred_at=china(2020, 9, 26),
    )
    assert PETITION_OFFICER in refused.message
    assert "supervisor" in refused.message


def test_forbidden_role_an_enforcement_officer_cannot_record_the_legal_review() -> None:
    refused = rejected(
        enforcement_until("enforcement.review"),
        "enforcement.record_legal_review",
        {"approved": True, "opinion": "自审通过"},
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 9),
    )
    assert "enforcement.record_legal_review" in refused.message
    assert "legal_reviewer" in refused.message
    assert "enforcement_officer" in refused.message


def test_the_legal_reviewer_of_another_department_records_the_legal_review() -> None:
    state, event = accepted(
        enforcement_until("enforcement.review"),
        "enforcement.record_legal_review",
        {"approved": True, "opinion": "同意"},
        actor=actor(LEGAL_REVIEWER),
        occurred_at=china(2020, 6, 9),
    )
    assert state.status == "legally_reviewed"
    assert event.actor.officer_id == LEGAL_REVIEWER
    assert event.department == "司法所"
    assert state.owner_department != "司法所"


def test_forbidden_role_a_non_supervisor_adds_a_supervision_note() -> None:
    refused = rejected(
        complaint(),
        "case.note_supervision",
        {"note": "请加快办理"},
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "case.note_supervision" in refused.message
    assert "supervisor" in refused.message


def test_a_supervisor_of_another_department_adds_a_supervision_note() -> None:
    before = complaint()
    state, event = accepted(
        before,
        "case.note_supervision",
        {"note": "请于5个工作日内报送办理进展", "respond_by": "2020-10-09"},
        actor=actor(SUPERVISOR),
        occurred_at=china(2020, 9, 26),
    )
    assert event.type == "case.supervision_noted"
    assert event.department == "督查室"
    assert state.status == before.status
    assert state.owner_department == XF


@pytest.mark.parametrize(
    ("step", "who"),
    [
        ("case.record_deadline_warning", actor(PETITION_OFFICER, role="system")),
        ("case.record_deadline_warning", {**SYSTEM, "role": "officer"}),
        ("case.record_deadline_warning", actor(SUPERVISOR)),
        ("complaint.assign", SYSTEM),
    ],
    ids=["officer-as-system", "clock-id-as-officer", "supervisor", "clock-on-ordinary-step"],
)
def test_forbidden_role_nobody_poses_as_the_system_clock(step: str, who: dict[str, str]) -> None:
    payload = {"clock": "complaint.reply"} if "deadline" in step else {"department": XF}
    refused = rejected(
        complaint(),
        step,
        payload,
        RejectionCode.FORBIDDEN_ROLE,
        actor=who,
        occurred_at=china(2020, 10, 20),
    )
    assert step in refused.message
    assert who["officer_id"] in refused.message


def test_the_system_clock_records_a_deadline_warning() -> None:
    state, event = accepted(
        complaint(),
        "case.record_deadline_warning",
        {"clock": "complaint.reply"},
        actor=SYSTEM,
        occurred_at=china(2020, 10, 20),
    )
    assert event.actor.officer_id == SYSTEM_CLOCK_ID
    assert event.actor.role == "system"
    assert "complaint.reply:yellow:2020-10-22" in state.signals


# --- certificates -------------------------------------------------------------------------------


def test_certificate_required_when_expired_on_occurred_at() -> None:
    refused = rejected(
        None,
        ENFORCEMENT_SOURCE.type,
        ENFORCEMENT_SOURCE.payload,
        RejectionCode.CERTIFICATE_REQUIRED,
        actor=actor(EXPIRED_ENFORCER),
        occurred_at=china(2020, 7, 1),
    )
    assert "enforcement.register_source" in refused.message
    assert EXPIRED_ENFORCER in refused.message
    assert "2020-07-01" in refused.message
    assert "2020-06-30" in refused.message  # the end of its validity


def test_certificate_is_judged_on_occurred_at_not_recorded_at() -> None:
    # recorded two weeks after expiry, but it happened on the last day of validity: accepted
    state, event = accepted(
        None,
        ENFORCEMENT_SOURCE.type,
        ENFORCEMENT_SOURCE.payload,
        actor=actor(EXPIRED_ENFORCER),
        occurred_at=china(2020, 6, 30, 23, 59),
        recorded_at=china(2020, 7, 15),
    )
    assert event.actor.certificate == "44200120150004"
    assert event.recorded_at == china(2020, 7, 15)
    # 2020-06-30 16:30 UTC is already 2020-07-01 in China: expired
    refused = rejected(
        state,
        "enforcement.file",
        example_payload("enforcement.file"),
        RejectionCode.CERTIFICATE_REQUIRED,
        actor=actor(EXPIRED_ENFORCER),
        occurred_at=datetime(2020, 6, 30, 16, 30, tzinfo=UTC),
        recorded_at=datetime(2020, 6, 30, 16, 31, tzinfo=UTC),
    )
    assert "2020-07-01" in refused.message
    # another officer of the department, with a valid certificate, carries on
    state, _ = accepted(
        state,
        "enforcement.file",
        example_payload("enforcement.file"),
        actor=actor(ENFORCER),
        occurred_at=china(2020, 7, 1),
    )
    assert state.status == "filed"


def test_certificate_required_without_any_certificate() -> None:
    refused = rejected(
        enforcement_until("enforcement.register_source"),
        "case.attach_document",
        example_payload("case.attach_document"),
        RejectionCode.CERTIFICATE_REQUIRED,
        actor=actor(UNCERTIFIED_ENFORCER),
        occurred_at=china(2020, 6, 2),
    )
    assert UNCERTIFIED_ENFORCER in refused.message
    assert "no enforcement certificate" in refused.message


def test_the_certificate_recorded_is_the_directory_s_not_the_claimed_one() -> None:
    _, event = accepted(
        None,
        ENFORCEMENT_SOURCE.type,
        ENFORCEMENT_SOURCE.payload,
        actor={**actor(ENFORCER), "certificate": "FORGED-0001"},
        occurred_at=china(2020, 6, 1),
    )
    assert event.actor.certificate == "44200120180003"


# --- ownership ----------------------------------------------------------------------------------


def test_wrong_department() -> None:
    state = complaint()
    refused = rejected(
        state,
        "complaint.assign",
        {"department": ZX},
        RejectionCode.WRONG_DEPARTMENT,
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert state.case_id in refused.message
    assert XF in refused.message
    assert ZX in refused.message


def test_after_a_transfer_the_new_owner_acts_and_the_old_one_cannot() -> None:
    state, event = accepted(
        petition(),
        "case.transfer",
        {"to_department": ZX, "reason": "属综治中心职责"},
        actor=actor(PETITION_OFFICER_2),
        occurred_at=china(2020, 6, 2),
    )
    assert event.type == "case.transferred"
    assert state.owner_department == ZX
    assert state.status == "accepted"  # a transfer does not change the status
    refused = rejected(
        state,
        "petition.handle",
        {"record": "办理"},
        RejectionCode.WRONG_DEPARTMENT,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 3),
    )
    assert ZX in refused.message
    assert XF in refused.message
    state, _ = accepted(
        state,
        "petition.handle",
        {"record": "办理"},
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 6, 3),
    )
    assert state.status == "handled"


def test_an_enforcement_case_transferred_to_another_enforcement_department() -> None:
    state, _ = accepted(
        enforcement_until("enforcement.file"),
        "case.transfer",
        {"to_department": SC, "reason": "属市场监管职责"},
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 3),
    )
    rejected(
        state,
        "enforcement.collect_evidence",
        example_payload("enforcement.collect_evidence"),
        RejectionCode.WRONG_DEPARTMENT,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 4),
    )
    state, event = accepted(
        state,
        "enforcement.collect_evidence",
        example_payload("enforcement.collect_evidence"),
        actor=actor(MARKET_ENFORCER),
        occurred_at=china(2020, 6, 4),
    )
    assert event.actor.certificate == "44200120190007"
    assert state.status == "investigating"


# --- the lifecycle and its rules ----------------------------------------------------------------


def test_illegal_transition() -> None:
    state = complaint()
    refused = rejected(
        state,
        "complaint.reply",
        {"reply": "已处理", "method": "phone"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "complaint.reply" in refused.message
    assert state.case_id in refused.message
    assert "'accepted'" in refused.message
    assert "investigated" in refused.message  # where it may be taken from


def test_legal_review_required() -> None:
    state, _ = run(
        [
            Action(
                "enforcement.notify_party",
                ENFORCER,
                china(2020, 6, 9),
                example_payload("enforcement.notify_party"),
            )
        ],
        enforcement_until("enforcement.review"),
    )
    refused = rejected(
        state,
        "enforcement.decide",
        example_payload("enforcement.decide"),
        RejectionCode.LEGAL_REVIEW_REQUIRED,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 20),
    )
    assert state.case_id in refused.message


def test_hearing_required() -> None:
    state, _ = run(
        [
            Action(
                "enforcement.record_legal_review",
                LEGAL_REVIEWER,
                china(2020, 6, 9),
                {"approved": True, "opinion": "同意"},
            ),
            Action(
                "enforcement.notify_party",
                ENFORCER,
                china(2020, 6, 10),
                example_payload("enforcement.notify_party"),
            ),
            Action("enforcement.request_hearing", ENFORCER, china(2020, 6, 11)),
        ],
        enforcement_until("enforcement.review"),
    )
    refused = rejected(
        state,
        "enforcement.decide",
        example_payload("enforcement.decide", major=True),
        RejectionCode.HEARING_REQUIRED,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 20),
    )
    assert state.case_id in refused.message


def test_reply_required_for_a_complaint() -> None:
    state = complaint()
    refused = rejected(
        state,
        "complaint.close",
        None,
        RejectionCode.REPLY_REQUIRED,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "complaint" in refused.message
    assert state.case_id in refused.message


def test_reply_required_for_a_petition_before_the_opinion() -> None:
    state, _ = run(
        [Action("petition.handle", PETITION_OFFICER, china(2020, 6, 5), {"record": "已协调"})],
        petition(),
    )
    refused = rejected(
        state,
        "petition.close",
        {"note": "已办结"},
        RejectionCode.REPLY_REQUIRED,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 6, 6),
    )
    assert "petition" in refused.message
    assert state.case_id in refused.message
    assert "'handled'" in refused.message


def test_limit_exceeded_extending_petition_handling_beyond_thirty_days() -> None:
    state = petition()
    refused = rejected(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 31, "reason": "情况复杂"},
        RejectionCode.LIMIT_EXCEEDED,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 7, 20),
    )
    assert "petition.handling" in refused.message
    assert "30" in refused.message
    state, _ = accepted(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 20, "reason": "情况复杂"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 7, 20),
    )
    refused = rejected(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 11, "reason": "仍需延期"},
        RejectionCode.LIMIT_EXCEEDED,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 7, 21),
    )
    assert "10 more day(s)" in refused.message
    assert "not 11" in refused.message
    state, _ = accepted(
        state,
        "case.extend",
        {"clock": "petition.handling", "days": 10, "reason": "仍需延期"},
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 7, 21),
    )
    clock = state.clock("petition.handling")
    assert clock is not None
    assert clock.extended_by == 30


def test_limit_exceeded_for_a_clock_that_is_not_extendable() -> None:
    refused = rejected(
        complaint(),
        "case.extend",
        {"clock": "complaint.reply", "days": 1, "reason": "情况复杂"},
        RejectionCode.LIMIT_EXCEEDED,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "complaint.reply" in refused.message
    assert "0 more day(s)" in refused.message


def test_extending_a_clock_that_does_not_run_is_illegal() -> None:
    refused = rejected(
        complaint(),
        "case.extend",
        {"clock": "petition.handling", "days": 5, "reason": "情况复杂"},
        RejectionCode.ILLEGAL_TRANSITION,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
    )
    assert "petition.handling" in refused.message
    assert "complaint.reply" in refused.message  # names what runs


def test_missing_field_in_a_submission() -> None:
    missing = parse_rejection(
        "enforcement.decide",
        {
            "decision_number": "罚〔2020〕1号",
            "penalty": example_payload("enforcement.decide")["penalty"],
        },
        actor=actor(ENFORCER),
        occurred_at=china(2020, 6, 20),
    )
    assert missing.code is RejectionCode.MISSING_FIELD
    assert "enforcement.decide.payload.legal_basis" in missing.message


def test_missing_field_bank_receipt_of_a_fine() -> None:
    state, _ = run(
        [
            Action(
                "enforcement.record_legal_review",
                LEGAL_REVIEWER,
                china(2020, 6, 9),
                {"approved": True, "opinion": "同意"},
            ),
            Action(
                "enforcement.notify_party",
                ENFORCER,
                china(2020, 6, 10),
                example_payload("enforcement.notify_party"),
            ),
            Action(
                "enforcement.decide",
                ENFORCER,
                china(2020, 6, 20),
                example_payload("enforcement.decide"),
            ),
            Action(
                "enforcement.serve_decision", ENFORCER, china(2020, 6, 21), {"method": "直接送达"}
            ),
        ],
        enforcement_until("enforcement.review"),
    )
    refused = rejected(
        state,
        "enforcement.execute",
        {"note": "当事人已缴纳"},
        RejectionCode.MISSING_FIELD,
        actor=actor(ENFORCER),
        occurred_at=china(2020, 7, 6),
    )
    assert "payload.bank_receipt" in refused.message
    assert state.case_id in refused.message


@pytest.mark.parametrize(
    ("step", "payload", "field"),
    [
        (
            "enforcement.decide",
            example_payload(
                "enforcement.decide",
                penalty={"kind": "fine", "amount_fen": -500_000, "description": "罚款"},
            ),
            "payload.penalty.amount_fen",
        ),
        ("mediation.reach_agreement", {"amount_fen": -1, "terms": "t"}, "payload.amount_fen"),
        (
            "enforcement.collect_evidence",
            {
                "items": [
                    {"title": "照片", "content_hash": "not-a-hash", "media_type": "image/jpeg"}
                ]
            },
            "payload.items.0.content_hash",
        ),
        ("enforcement.collect_evidence", {"items": []}, "payload.items"),
        ("case.extend", {"clock": "petition.handling", "days": 0, "reason": "r"}, "payload.days"),
        ("complaint.accept", {"note": "ok", "extra": 1}, "payload.extra"),
        ("complaint.accept", {"note": 5}, "payload.note"),
    ],
    ids=[
        "negative-fine",
        "negative-agreement",
        "bad-hash",
        "no-evidence",
        "zero-days",
        "extra",
        "type",
    ],
)
def test_invalid_payload(step: str, payload: dict[str, object], field: str) -> None:
    refused = parse_rejection(step, payload, actor=actor(ENFORCER), occurred_at=china(2020, 6, 20))
    assert refused.code is RejectionCode.INVALID_PAYLOAD
    assert f"{step}.{field}" in refused.message


def test_invalid_envelope() -> None:
    unknown = parse_rejection(
        "complaint.delete", {}, actor=actor(PETITION_OFFICER), occurred_at=china(2020, 9, 26)
    )
    assert unknown.code is RejectionCode.INVALID_PAYLOAD
    assert "complaint.delete" in unknown.message
    bad_id = parse_rejection(
        "complaint.accept",
        None,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 9, 26),
        case_id="../etc/passwd",
    )
    assert bad_id.code is RejectionCode.INVALID_PAYLOAD
    assert "case_id" in bad_id.message


# --- the order of the checks --------------------------------------------------------------------


def test_the_first_thing_wrong_is_named() -> None:
    state = complaint()
    # a stale version by an unknown officer: the version is checked first
    rejected(
        state,
        "complaint.reply",
        {"reply": "r", "method": "phone"},
        RejectionCode.VERSION_CONFLICT,
        actor={"officer_id": "DY-XX-99", "role": "officer", "department": ZX},
        occurred_at=china(2020, 9, 26),
        expected_version=1,
    )
    # a supervisor-only step in the wrong status by another department: the role first
    rejected(
        state,
        "complaint.reply",
        {"reply": "r", "method": "phone"},
        RejectionCode.FORBIDDEN_ROLE,
        actor=actor(SUPERVISOR),
        occurred_at=china(2020, 9, 26),
    )
    # another department, a step not allowed from the status: the department first
    rejected(
        state,
        "complaint.reply",
        {"reply": "r", "method": "phone"},
        RejectionCode.WRONG_DEPARTMENT,
        actor=actor(OTHER_OFFICER),
        occurred_at=china(2020, 9, 26),
    )


def test_every_rejection_code_has_a_test_above() -> None:
    # a new code needs a realistic submission that produces it, in this file
    covered = {
        RejectionCode.UNKNOWN_CASE,
        RejectionCode.CASE_EXISTS,
        RejectionCode.WRONG_CASE_TYPE,
        RejectionCode.VERSION_CONFLICT,
        RejectionCode.FORBIDDEN_ROLE,
        RejectionCode.CERTIFICATE_REQUIRED,
        RejectionCode.WRONG_DEPARTMENT,
        RejectionCode.ILLEGAL_TRANSITION,
        RejectionCode.LEGAL_REVIEW_REQUIRED,
        RejectionCode.HEARING_REQUIRED,
        RejectionCode.REPLY_REQUIRED,
        RejectionCode.LIMIT_EXCEEDED,
        RejectionCode.MISSING_FIELD,
        RejectionCode.INVALID_PAYLOAD,
    }
    assert covered == set(RejectionCode)
