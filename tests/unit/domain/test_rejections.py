"""Every rejection code of events.errors, each from a realistic submission, with its message.

The order of the checks is the one lifecycle.py documents: each rejection names the first thing
wrong.
"""

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from events import calendar
from events.calendar import YearSchedule, with_operator_files
from events.errors import RejectionCode
from events.officers import SYSTEM_CLOCK_ID
from events.state import CaseState
from tests.unit.domain.support import (
    ACCEPT_COMPLAINT,
    CASE_ID,
    CITY_GOV,
    CITY_XF,
    ENFORCER,
    ENFORCER_2,
    EXPIRED_ENFORCER,
    LEGAL_REVIEWER,
    MARKET_ENFORCER,
    MARKET_ENFORCER_2,
    OTHER_OFFICER,
    PETITION_OFFICER,
    PETITION_OFFICER_2,
    REGISTER_COMPLAINT,
    REVIEWER,
    SC,
    SECOND_REVIEWER,
    SUPERVISOR,
    SYSTEM,
    UNCERTIFIED_ENFORCER,
    XF,
    ZX,
    Action,
    actor,
    china,
    due,
    example,
    example_payload,
    on_duty,
    refuse,
    refuse_to_parse,
    run,
    state_after,
    take,
)

COMPLAINT = [REGISTER_COMPLAINT, ACCEPT_COMPLAINT]
NEXT_DAY = china(2020, 9, 26)  # the day after the complaint was accepted
PETITION = [
    example("petition.register", PETITION_OFFICER, china(2020, 6, 1)),
    Action("petition.accept", PETITION_OFFICER, china(2020, 6, 1)),
]
# an enforcement case by ENFORCER, to the step each list is named after
SOURCE_REGISTERED = [example("enforcement.register_source", ENFORCER, china(2020, 6, 1))]
FILED = [*SOURCE_REGISTERED, example("enforcement.file", ENFORCER, china(2020, 6, 2))]
REVIEWED = [
    *FILED,
    example("enforcement.collect_evidence", ENFORCER, china(2020, 6, 5)),
    Action(
        "enforcement.review", ENFORCER, china(2020, 6, 8), {"opinion": "事实清楚", "major": True}
    ),
]
APPROVED = {"approved": True, "opinion": "同意"}
LEGALLY_REVIEWED = [
    *REVIEWED,
    Action("enforcement.record_legal_review", LEGAL_REVIEWER, china(2020, 6, 9), APPROVED),
]
UNKNOWN_OFFICER = {"officer_id": "DY-XX-99", "role": "officer", "department": XF}
TO_XF = {"department": XF}
URGE = {"note": "请加快办理"}
SELF_APPROVED = {"approved": True, "opinion": "自审通过"}


def notify(day: int) -> Action:
    return example("enforcement.notify_party", ENFORCER, china(2020, 6, day))


def discuss(day: int) -> Action:
    """The department heads' collective discussion (major cases)."""
    return example("enforcement.hold_collective_discussion", ENFORCER, china(2020, 6, day))


def transfer(who: str, at: datetime, to: str, reason: str) -> Action:
    return Action("case.transfer", who, at, {"to_department": to, "reason": reason})


def complaint() -> CaseState:
    return run(COMPLAINT)[0]


# --- the case and its type ----------------------------------------------------------------------


def test_unknown_case() -> None:
    accept = Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25))
    refuse(None, accept, RejectionCode.UNKNOWN_CASE, "TS-2020-0404", case_id="TS-2020-0404")


@pytest.mark.parametrize("opening", ["complaint.register", "petition.register"])
def test_case_exists(opening: str) -> None:
    again = example(opening, PETITION_OFFICER, NEXT_DAY)
    refuse(complaint(), again, RejectionCode.CASE_EXISTS, CASE_ID, "complaint", "version 2")


def test_wrong_case_type() -> None:
    handle = Action("petition.handle", PETITION_OFFICER, NEXT_DAY, {"record": "办理"})
    code = RejectionCode.WRONG_CASE_TYPE
    refuse(complaint(), handle, code, "petition.handle", CASE_ID, "complaint")


@pytest.mark.parametrize(
    ("before", "step", "says", "current"),
    [
        pytest.param(
            COMPLAINT,
            Action("complaint.assign", PETITION_OFFICER, NEXT_DAY, TO_XF),
            (CASE_ID, "expected_version 1", "version 2"),
            2,
            id="a-step-on-a-case",
        ),
        pytest.param([], COMPLAINT[0], ("version 0",), 0, id="a-new-case-is-version-zero"),
    ],
)
def test_version_conflict(
    before: list[Action], step: Action, says: tuple[str, ...], current: int
) -> None:
    """expected_version 1 is refused, the ``current`` version accepted."""
    state = state_after(before)
    refuse(state, step, RejectionCode.VERSION_CONFLICT, *says, expected_version=1)
    _, event = take(state, step, expected_version=current)
    assert event.version == current + 1


# --- who may act --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "step", "says"),
    [
        pytest.param(
            COMPLAINT,
            Action("complaint.assign", UNKNOWN_OFFICER, NEXT_DAY, TO_XF),
            ("unknown officer DY-XX-99",),
            id="unknown-officer",
        ),
        pytest.param(
            COMPLAINT,
            Action("complaint.assign", actor(OTHER_OFFICER, department=XF), NEXT_DAY, TO_XF),
            (OTHER_OFFICER, ZX, XF),
            id="officer-claiming-another-department",
        ),
        pytest.param(
            COMPLAINT,
            Action(
                "case.note_supervision", actor(PETITION_OFFICER, role="supervisor"), NEXT_DAY, URGE
            ),
            (PETITION_OFFICER, "supervisor"),
            id="officer-claiming-a-role-they-lack",
        ),
        pytest.param(
            REVIEWED,
            Action("enforcement.record_legal_review", ENFORCER, china(2020, 6, 9), SELF_APPROVED),
            ("enforcement.record_legal_review", "legal_reviewer", "enforcement_officer"),
            id="enforcement-officer-recording-the-legal-review",
        ),
        pytest.param(
            COMPLAINT,
            Action("case.note_supervision", PETITION_OFFICER, NEXT_DAY, URGE),
            ("case.note_supervision", "supervisor"),
            id="non-supervisor-noting-supervision",
        ),
    ],
)
def test_forbidden_role(before: list[Action], step: Action, says: tuple[str, ...]) -> None:
    refuse(state_after(before), step, RejectionCode.FORBIDDEN_ROLE, *says)


def test_the_legal_reviewer_of_another_department_records_the_legal_review() -> None:
    state, event = take(
        state_after(REVIEWED),
        Action("enforcement.record_legal_review", LEGAL_REVIEWER, china(2020, 6, 9), APPROVED),
    )
    assert state.status == "legally_reviewed"
    assert event.actor.officer_id == LEGAL_REVIEWER
    assert event.department == "司法所"
    assert state.owner_department != "司法所"


def test_a_supervisor_of_another_department_adds_a_supervision_note() -> None:
    before = complaint()
    note = {"note": "请于5个工作日内报送办理进展", "respond_by": "2020-10-09"}
    state, event = take(before, Action("case.note_supervision", SUPERVISOR, NEXT_DAY, note))
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
    posing = Action(step, who, china(2020, 10, 20), payload)
    refuse(complaint(), posing, RejectionCode.FORBIDDEN_ROLE, step, who["officer_id"])


def test_the_system_clock_records_a_deadline_warning() -> None:
    warning = {"clock": "complaint.reply"}
    state, event = take(
        complaint(), Action("case.record_deadline_warning", SYSTEM, china(2020, 10, 20), warning)
    )
    assert event.actor.officer_id == SYSTEM_CLOCK_ID
    assert event.actor.role == "system"
    assert "complaint.reply:yellow:2020-09-25+15w" in state.signals


def test_a_deadline_into_a_year_no_calendar_covers_is_refused() -> None:
    # Accepted on Sun 2026-12-20, the 15-working-day reply would be due in January 2027, whose
    # holiday schedule no source holds: the step is refused, not counted on Monday to Friday.
    registered = state_after([example("complaint.register", PETITION_OFFICER, china(2026, 12, 18))])
    accept = Action("complaint.accept", PETITION_OFFICER, china(2026, 12, 20))
    refused = refuse(registered, accept, RejectionCode.CALENDAR_NOT_COVERED, "2027", CASE_ID)
    assert "2027年的节假日安排尚无来源" in refused.message
    # A step that starts no deadline is not held up by the missing year.
    take(registered, example("case.attach_document", PETITION_OFFICER, china(2026, 12, 21)))
    # Accepted on 2026-12-01, the reply is due on 2026-12-22: nothing from 2027 is needed.
    early = state_after([example("complaint.register", PETITION_OFFICER, china(2026, 11, 30))])
    state, _ = take(early, Action("complaint.accept", PETITION_OFFICER, china(2026, 12, 1)))
    assert due(state, "complaint.reply") == date(2026, 12, 22)


def test_a_deadline_into_2027_counts_once_the_operator_adds_the_notice() -> None:
    schedule = YearSchedule.from_mapping(
        {"year": 2027, "notice": "测试 / test", "rest_days": ["2027-01-01", "2027-10-01"]},
        "test.toml",
    )
    previous = calendar.use(with_operator_files([schedule]))
    try:
        registered = state_after(
            [example("complaint.register", PETITION_OFFICER, china(2026, 12, 18))]
        )
        state, _ = take(
            registered, Action("complaint.accept", PETITION_OFFICER, china(2026, 12, 20))
        )
        assert due(state, "complaint.reply") == date(2027, 1, 11)
    finally:
        calendar.use(previous)


# --- certificates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "step", "says"),
    [
        pytest.param(
            [],
            replace(SOURCE_REGISTERED[0], actor=EXPIRED_ENFORCER, at=china(2020, 7, 1)),
            # the last one is the end of its validity
            ("enforcement.register_source", EXPIRED_ENFORCER, "2020-07-01", "2020-06-30"),
            id="expired-on-occurred-at",
        ),
        pytest.param(
            SOURCE_REGISTERED,
            example("case.attach_document", UNCERTIFIED_ENFORCER, china(2020, 6, 2)),
            (UNCERTIFIED_ENFORCER, "no enforcement certificate"),
            id="without-any-certificate",
        ),
    ],
)
def test_certificate_required(before: list[Action], step: Action, says: tuple[str, ...]) -> None:
    refuse(state_after(before), step, RejectionCode.CERTIFICATE_REQUIRED, *says)


def test_certificate_is_judged_on_occurred_at_not_recorded_at() -> None:
    # recorded two weeks after expiry, but it happened on the last day of validity: accepted
    source = replace(SOURCE_REGISTERED[0], actor=EXPIRED_ENFORCER, at=china(2020, 6, 30, 23, 59))
    state, event = take(None, source, recorded_at=china(2020, 7, 15))
    assert event.actor.certificate == "44200120150004"
    assert event.recorded_at == china(2020, 7, 15)
    # 2020-06-30 16:30 UTC is already 2020-07-01 in China: expired
    file = example("enforcement.file", EXPIRED_ENFORCER, datetime(2020, 6, 30, 16, 30, tzinfo=UTC))
    recorded_at = datetime(2020, 6, 30, 16, 31, tzinfo=UTC)
    refuse(state, file, RejectionCode.CERTIFICATE_REQUIRED, "2020-07-01", recorded_at=recorded_at)
    # another officer of the department, with a valid certificate, carries on
    state, _ = take(state, replace(file, actor=ENFORCER, at=china(2020, 7, 1)))
    assert state.status == "filed"


def test_the_certificate_recorded_is_the_directory_s_not_the_claimed_one() -> None:
    forged = {**actor(ENFORCER), "certificate": "FORGED-0001"}
    _, event = take(None, replace(SOURCE_REGISTERED[0], actor=forged))
    assert event.actor.certificate == "44200120180003"


# --- ownership ----------------------------------------------------------------------------------


def test_wrong_department() -> None:
    assign = Action("complaint.assign", OTHER_OFFICER, NEXT_DAY, {"department": ZX})
    refuse(complaint(), assign, RejectionCode.WRONG_DEPARTMENT, CASE_ID, XF, ZX)


@pytest.mark.parametrize(
    ("before", "transfer", "step", "new_owner", "says", "status", "certificate"),
    [
        pytest.param(
            PETITION,
            transfer(PETITION_OFFICER_2, china(2020, 6, 2), ZX, "属综治中心职责"),
            Action("petition.handle", PETITION_OFFICER, china(2020, 6, 3), {"record": "办理"}),
            OTHER_OFFICER,
            (ZX, XF),
            "handled",
            None,
            id="petition-to-another-department",
        ),
        pytest.param(
            FILED,
            transfer(ENFORCER, china(2020, 6, 3), SC, "属市场监管职责"),
            example(
                "enforcement.collect_evidence",
                ENFORCER,
                china(2020, 6, 4),
                officers=on_duty(MARKET_ENFORCER_2),
            ),
            MARKET_ENFORCER,
            (),
            "investigating",
            "44200120190007",
            id="enforcement-to-another-enforcement-department",
        ),
    ],
)
def test_after_a_transfer_the_new_owner_acts_and_the_old_one_cannot(
    before: list[Action],
    transfer: Action,
    step: Action,
    new_owner: str,
    says: tuple[str, ...],
    status: str,
    certificate: str | None,
) -> None:
    """``step`` by an officer of the old owner is refused, the same step by ``new_owner`` not."""
    before_state = run(before)[0]
    state, event = take(before_state, transfer)
    assert event.type == "case.transferred"
    assert transfer.payload is not None
    assert state.owner_department == transfer.payload["to_department"]
    assert state.status == before_state.status  # a transfer does not change the status
    refuse(state, step, RejectionCode.WRONG_DEPARTMENT, *says)
    state, event = take(state, replace(step, actor=new_owner))
    assert event.actor.certificate == certificate
    assert state.status == status


# --- the lifecycle and its rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "says"),
    [
        pytest.param(
            Action(
                "complaint.reply",
                PETITION_OFFICER,
                NEXT_DAY,
                {"reply": "已处理", "method": "phone"},
            ),
            # the last is the status it may be taken from
            ("complaint.reply", CASE_ID, "'accepted'", "investigated"),
            id="reply-before-the-investigation",
        ),
        pytest.param(
            Action(
                "case.extend",
                PETITION_OFFICER,
                NEXT_DAY,
                {"clock": "petition.handling", "days": 5, "reason": "情况复杂"},
            ),
            ("petition.handling", "complaint.reply"),  # names what runs
            id="extending-a-clock-that-does-not-run",
        ),
    ],
)
def test_illegal_transition(step: Action, says: tuple[str, ...]) -> None:
    refuse(complaint(), step, RejectionCode.ILLEGAL_TRANSITION, *says)


@pytest.mark.parametrize(
    ("before", "decision", "code"),
    [
        pytest.param(
            [*REVIEWED, notify(9)],
            example_payload("enforcement.decide"),
            RejectionCode.LEGAL_REVIEW_REQUIRED,
            id="legal-review-required",
        ),
        pytest.param(
            [
                *LEGALLY_REVIEWED,
                notify(10),
                Action("enforcement.request_hearing", ENFORCER, china(2020, 6, 11)),
            ],
            example_payload("enforcement.decide", major=True),
            RejectionCode.HEARING_REQUIRED,
            id="hearing-required",
        ),
    ],
)
def test_the_decision_waits(
    before: list[Action], decision: dict[str, Any], code: RejectionCode
) -> None:
    decide = Action("enforcement.decide", ENFORCER, china(2020, 6, 20), decision)
    refuse(state_after(before), decide, code, CASE_ID)


@pytest.mark.parametrize(
    ("before", "close", "says"),
    [
        pytest.param(
            COMPLAINT,
            Action("complaint.close", PETITION_OFFICER, NEXT_DAY),
            ("complaint", CASE_ID),
            id="complaint-closed-before-the-reply",
        ),
        pytest.param(
            [
                *PETITION,
                Action(
                    "petition.handle", PETITION_OFFICER, china(2020, 6, 5), {"record": "已协调"}
                ),
            ],
            Action("petition.close", PETITION_OFFICER, china(2020, 6, 6), {"note": "已办结"}),
            ("petition", CASE_ID, "'handled'"),
            id="petition-closed-before-the-opinion",
        ),
    ],
)
def test_reply_required(before: list[Action], close: Action, says: tuple[str, ...]) -> None:
    refuse(state_after(before), close, RejectionCode.REPLY_REQUIRED, *says)


def test_limit_exceeded_extending_petition_handling_beyond_thirty_days() -> None:
    def extend(days: int, reason: str, day: int) -> Action:
        payload = {"clock": "petition.handling", "days": days, "reason": reason}
        return Action("case.extend", PETITION_OFFICER, china(2020, 7, day), payload)

    state = run(PETITION)[0]
    exceeded = RejectionCode.LIMIT_EXCEEDED
    refuse(state, extend(31, "情况复杂", 20), exceeded, "petition.handling", "30")
    state, _ = take(state, extend(20, "情况复杂", 20))
    refuse(state, extend(11, "仍需延期", 21), exceeded, "10 more day(s)", "not 11")
    state, _ = take(state, extend(10, "仍需延期", 21))
    clock = state.clock("petition.handling")
    assert clock is not None
    assert clock.extended_by == 30


def test_limit_exceeded_for_a_clock_that_is_not_extendable() -> None:
    payload = {"clock": "complaint.reply", "days": 1, "reason": "情况复杂"}
    extend = Action("case.extend", PETITION_OFFICER, NEXT_DAY, payload)
    refuse(complaint(), extend, RejectionCode.LIMIT_EXCEEDED, "complaint.reply", "0 more day(s)")


def test_missing_field_in_a_submission() -> None:
    penalty = example_payload("enforcement.decide")["penalty"]
    payload = {"decision_number": "罚〔2020〕1号", "penalty": penalty}
    decide = Action("enforcement.decide", ENFORCER, china(2020, 6, 20), payload)
    refuse_to_parse(decide, RejectionCode.MISSING_FIELD, "enforcement.decide.payload.legal_basis")


def test_missing_field_bank_receipt_of_a_fine() -> None:
    state = run(
        [
            *LEGALLY_REVIEWED,
            notify(10),
            discuss(16),
            example("enforcement.decide", ENFORCER, china(2020, 6, 20)),
            Action(
                "enforcement.serve_decision", ENFORCER, china(2020, 6, 21), {"method": "直接送达"}
            ),
        ]
    )[0]
    execute = Action("enforcement.execute", ENFORCER, china(2020, 7, 6), {"note": "当事人已缴纳"})
    refuse(state, execute, RejectionCode.MISSING_FIELD, "payload.bank_receipt", CASE_ID)


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
def test_invalid_payload(step: str, payload: dict[str, Any], field: str) -> None:
    invalid = Action(step, ENFORCER, china(2020, 6, 20), payload)
    refuse_to_parse(invalid, RejectionCode.INVALID_PAYLOAD, f"{step}.{field}")


@pytest.mark.parametrize(
    ("step", "payload", "case_id", "says"),
    [
        ("complaint.delete", {}, CASE_ID, "complaint.delete"),
        ("complaint.accept", None, "../etc/passwd", "case_id"),
    ],
    ids=["unknown-step", "case-id-not-a-case-number"],
)
def test_invalid_envelope(
    step: str, payload: dict[str, Any] | None, case_id: str, says: str
) -> None:
    invalid = Action(step, PETITION_OFFICER, NEXT_DAY, payload)
    refuse_to_parse(invalid, RejectionCode.INVALID_PAYLOAD, says, case_id=case_id)


# --- the law's people and periods (行政处罚法) ----------------------------------------------------

MINOR_NOTIFIED = [
    *FILED,
    example("enforcement.collect_evidence", ENFORCER, china(2020, 6, 5)),
    Action(
        "enforcement.review", ENFORCER, china(2020, 6, 8), {"opinion": "事实清楚", "major": False}
    ),
    notify(10),  # Wed 2020-06-10: the party's window runs to Mon 2020-06-15
]


@pytest.mark.parametrize(
    ("officers", "says"),
    [
        pytest.param([], ("nobody else is named",), id="alone"),
        pytest.param(on_duty(ENFORCER), (f"{ENFORCER} records the step",), id="naming-oneself"),
        pytest.param(
            [{"officer_id": EXPIRED_ENFORCER, "certificate": "44200120150004"}],
            (EXPIRED_ENFORCER, "valid on 2020-07-06"),
            id="an-expired-certificate",
        ),
        pytest.param(
            [{"officer_id": UNCERTIFIED_ENFORCER, "certificate": "44200120150005"}],
            (UNCERTIFIED_ENFORCER, "holds no enforcement certificate"),
            id="no-certificate",
        ),
        pytest.param(
            on_duty(MARKET_ENFORCER_2),
            (MARKET_ENFORCER_2, "not an officer of 综合行政执法办"),
            id="an-officer-of-another-department",
        ),
        pytest.param(
            [{"officer_id": ENFORCER_2, "certificate": "44200120190099"}],
            ("44200120190006, not 44200120190099",),
            id="another-certificate-than-the-directory-s",
        ),
        pytest.param(
            [*on_duty(ENFORCER_2), {"officer_id": "DY-XX-99", "certificate": "1"}],
            ("unknown officer DY-XX-99",),
            id="one-good-one-unknown",
        ),
    ],
)
def test_two_officers_required(officers: list[dict[str, str]], says: tuple[str, ...]) -> None:
    evidence = example(
        "enforcement.collect_evidence", ENFORCER, china(2020, 7, 6), officers=officers
    )
    code = RejectionCode.TWO_OFFICERS_REQUIRED
    refuse(state_after(FILED), evidence, code, CASE_ID, "第四十二条", *says)


def test_collective_discussion_required() -> None:
    decide = example("enforcement.decide", ENFORCER, china(2020, 6, 20), major=True)
    code = RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED
    refuse(state_after([*LEGALLY_REVIEWED, notify(10)]), decide, code, CASE_ID, "集体讨论")


def test_period_not_over_the_party_s_window_after_the_notice() -> None:
    decide = example("enforcement.decide", ENFORCER, china(2020, 6, 15, 17, 0))
    code = RejectionCode.PERIOD_NOT_OVER
    refuse(state_after(MINOR_NOTIFIED), decide, code, CASE_ID, "2020-06-10", "until 2020-06-15")


def test_period_expired_a_hearing_asked_for_after_five_days() -> None:
    late = Action("enforcement.request_hearing", ENFORCER, china(2020, 6, 16))
    code = RejectionCode.PERIOD_EXPIRED
    refuse(state_after(MINOR_NOTIFIED), late, code, CASE_ID, "by 2020-06-15", "第六十四条")


def test_publication_required() -> None:
    state = state_after(
        [
            *MINOR_NOTIFIED,
            example("enforcement.decide", ENFORCER, china(2020, 6, 16)),
            example("enforcement.serve_decision", ENFORCER, china(2020, 6, 17)),
            example("enforcement.execute", ENFORCER, china(2020, 6, 30)),
        ]
    )
    close = Action("enforcement.close", ENFORCER, china(2020, 7, 1))
    refuse(state, close, RejectionCode.PUBLICATION_REQUIRED, CASE_ID, "公示")


# --- the order of the checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected_version", "code"),
    [
        # a stale version by an unknown officer: the version is checked first
        pytest.param(
            {"officer_id": "DY-XX-99", "role": "officer", "department": ZX},
            1,
            RejectionCode.VERSION_CONFLICT,
            id="the-version-before-the-officer",
        ),
        # a supervisor-only step in the wrong status by another department: the role first
        pytest.param(
            actor(SUPERVISOR),
            None,
            RejectionCode.FORBIDDEN_ROLE,
            id="the-role-before-the-department",
        ),
        # another department, a step not allowed from the status: the department first
        pytest.param(
            actor(OTHER_OFFICER),
            None,
            RejectionCode.WRONG_DEPARTMENT,
            id="the-department-before-the-status",
        ),
    ],
)
def test_the_first_thing_wrong_is_named(
    who: dict[str, Any], expected_version: int | None, code: RejectionCode
) -> None:
    reply = Action("complaint.reply", who, NEXT_DAY, {"reply": "r", "method": "phone"})
    refuse(complaint(), reply, code, expected_version=expected_version)


# a petition answered by 信访办 and closed; the petitioner received the opinion on 2020-06-10
ANSWERED = [
    *PETITION,
    Action("petition.handle", PETITION_OFFICER, china(2020, 6, 2), {"record": "核实"}),
    Action("petition.issue_opinion", PETITION_OFFICER, china(2020, 6, 9), {"opinion": "答复"}),
    Action("petition.close", PETITION_OFFICER, china(2020, 6, 9, 15)),
    Action(
        "petition.record_reply_receipt",
        PETITION_OFFICER,
        china(2020, 6, 10),
        {"received_on": "2020-06-10", "method": "直接送达"},
    ),
]


def request(kind: str, who: str, department: str, at: datetime) -> Action:
    payload = {"reviewing_department": department, "reason": "不服"}
    return Action(f"petition.request_{kind}", who, at, payload)


def test_period_expired_a_review_asked_after_thirty_days() -> None:
    state = state_after(ANSWERED)
    late = request("review", REVIEWER, CITY_XF, china(2020, 7, 13))  # 06-10 + 30: Fri 07-10
    refuse(state, late, RejectionCode.PERIOD_EXPIRED, "within 30 days", "2020-07-10")


def test_final_stage_reached_no_review_after_the_second_review() -> None:
    state = state_after(
        [
            *ANSWERED,
            request("review", REVIEWER, CITY_XF, china(2020, 6, 20)),
            Action(
                "petition.decide_review",
                REVIEWER,
                china(2020, 7, 1),
                {"outcome": "upheld", "opinion": "维持"},
            ),
            Action(
                "petition.record_reply_receipt",
                REVIEWER,
                china(2020, 7, 2),
                {"received_on": "2020-07-02", "method": "邮寄送达"},
            ),
            request("second_review", SECOND_REVIEWER, CITY_GOV, china(2020, 7, 10)),
            Action(
                "petition.decide_second_review",
                SECOND_REVIEWER,
                china(2020, 8, 1),
                {"outcome": "upheld", "opinion": "维持"},
            ),
        ]
    )
    again = request("second_review", SECOND_REVIEWER, CITY_GOV, china(2020, 8, 5))
    refuse(state, again, RejectionCode.FINAL_STAGE_REACHED, CASE_ID, "三级终结")


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
        RejectionCode.CALENDAR_NOT_COVERED,
        RejectionCode.INVALID_PAYLOAD,
        RejectionCode.FINAL_STAGE_REACHED,
        RejectionCode.TWO_OFFICERS_REQUIRED,
        RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED,
        RejectionCode.PERIOD_NOT_OVER,
        RejectionCode.PERIOD_EXPIRED,
        RejectionCode.PUBLICATION_REQUIRED,
    }
    # Who vouched is the decider's check before the domain's: tests/unit/test_signing.py.
    signatures = {
        RejectionCode.UNSIGNED_SUBMISSION,
        RejectionCode.UNKNOWN_SIGNER,
        RejectionCode.BAD_SIGNATURE,
        RejectionCode.SIGNER_DEPARTMENT_MISMATCH,
    }
    # Where the record arrived, before either: tests/unit/test_decider_partition.py.
    placement = {RejectionCode.WRONG_PARTITION}
    assert covered | signatures | placement == set(RejectionCode)
