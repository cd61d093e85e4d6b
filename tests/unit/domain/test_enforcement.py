"""Enforcement actions (行政执法): the happy path of DOMAIN.md, every branch and the law's rules.

Real 2020 dates: the National Day holidays (Oct 1-8) and the make-up working days (Sun Sep 27,
Sat Oct 10) are in the counts. The party is notified on Thu 2020-09-17: the five days of
行政处罚法 第六十四条 run to Tue 2020-09-22.
"""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.decide import evolve, fold
from events.errors import RejectionCode
from events.model import CaseType, Event
from events.payloads import CaseReview, Evidence
from events.upcasting import CURRENT_VERSIONS, typed_payload
from tests.signing import SUITE
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
    on_duty,
    refuse,
    refuse_to_parse,
    run,
    take,
    verify_chain,
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
ITEMS = [{"title": "现场照片", "content_hash": "ab" * 32, "media_type": "image/jpeg"}]
EVIDENCE = Action(
    "enforcement.collect_evidence",
    ENFORCER,
    china(2020, 9, 10),
    {"items": ITEMS, "officers": on_duty(ENFORCER_2)},
)


def review(major: bool, day: int = 15, complex_: bool = False) -> Action:
    payload = {"opinion": "事实清楚", "major": major, "complex": complex_}
    return Action("enforcement.review", ENFORCER, china(2020, 9, day), payload)


def legal_review(approved: bool, day: int = 16) -> Action:
    return Action(
        "enforcement.record_legal_review",
        LEGAL_REVIEWER,
        china(2020, 9, day),
        {"approved": approved, "opinion": "程序合法" if approved else "证据不足"},
    )


def notice(penalty: dict[str, Any] = FINE, day: int = 17) -> Action:
    return Action(
        "enforcement.notify_party",
        ENFORCER,
        china(2020, 9, day),
        {"intended_penalty": penalty, "rights": "陈述、申辩及要求听证的权利"},
    )


NOTIFY = notice()
DISCUSS = example("enforcement.hold_collective_discussion", ENFORCER, china(2020, 9, 23))


def decision(major: bool = False, penalty: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "decision_number": "罚〔2020〕15号",
        "legal_basis": "《无证无照经营查处办法》第十三条",
        "penalty": penalty or FINE,
        "major": major,
    }


DECIDE = Action("enforcement.decide", ENFORCER, china(2020, 9, 25), decision())
SERVE = Action("enforcement.serve_decision", ENFORCER, china(2020, 9, 27), {"method": "直接送达"})
PUBLISH = Action(
    "enforcement.publish_decision",
    ENFORCER,
    china(2020, 9, 28),
    {"published": True, "channel": "国家企业信用信息公示系统"},
)
EXECUTE = Action(
    "enforcement.execute",
    ENFORCER,
    china(2020, 10, 12),
    {"bank_receipt": "GDNX2020101200123", "note": "当事人已缴纳罚款"},
)
CLOSE = Action("enforcement.close", ENFORCER, china(2020, 10, 13))
INVESTIGATING = [REGISTER, FILE, EVIDENCE]
NOTIFIED = [*INVESTIGATING, review(major=False), NOTIFY]
"""A minor case, the party notified of the intended penalty."""
SERVED = [*NOTIFIED, DECIDE, SERVE]
"""The fine decided on Fri 2020-09-25 and served on Sun 2020-09-27 (a make-up working day)."""
DECLINE = Action(
    "enforcement.decline_filing", ENFORCER, china(2020, 9, 2), {"reason": "违法事实不成立"}
)


def test_enforcement_happy_path_from_source_to_archive() -> None:
    decision_clock = ["enforcement.decision"]
    states, events = walk(
        [
            (
                REGISTER,
                "enforcement.source_registered",
                "source_registered",
                ["enforcement.filing"],
            ),
            (FILE, "enforcement.filed", "filed", decision_clock),
            (EVIDENCE, "enforcement.evidence_collected", "investigating", decision_clock),
            (review(major=False), "enforcement.reviewed", "reviewed", decision_clock),
            (NOTIFY, "enforcement.party_notified", "notified", decision_clock),
            (
                DECIDE,
                "enforcement.decision_made",
                "decided",
                ["enforcement.service", "enforcement.publication"],
            ),
            (
                SERVE,
                "enforcement.decision_served",
                "served",
                ["enforcement.publication", "enforcement.payment"],
            ),
            (PUBLISH, "enforcement.decision_published", "served", ["enforcement.payment"]),
            (EXECUTE, "enforcement.executed", "executed", []),
            (CLOSE, "enforcement.closed", "closed", []),
        ]
    )
    closed = states[-1]
    assert closed.case_type is CaseType.ENFORCEMENT
    assert (closed.owner_department, closed.penalty_amount_fen) == (ZF, 500_000)
    assert closed.penalty_decided
    assert closed.published
    # every enforcement step records the certificate the officer held that day; the evidence
    # names the second officer present with the certificate shown
    assert {e.actor.certificate for e in events} == {"44200120180003"}
    assert events[2].payload["items"][0]["content_hash"] == "ab" * 32
    assert events[2].payload["officers"] == [
        {"officer_id": ENFORCER_2, "certificate": "44200120190006"}
    ]
    assert events[2].schema_version == CURRENT_VERSIONS["enforcement.evidence_collected"] == 2


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
            replace(EVIDENCE, at=china(2020, 9, 18)),
            review(major=True, day=21),
            legal_review(True, 22),
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


def test_major_decision_with_an_approved_legal_review_and_a_collective_discussion() -> None:
    state, _ = run([*INVESTIGATING, review(major=True), legal_review(True), NOTIFY, DISCUSS])
    assert state.collective_discussion
    state, _ = run([replace(DECIDE, payload=decision(major=True))], state)
    assert state.status == "decided"
    assert state.major


def test_hearing_requested_must_be_held_before_the_decision() -> None:
    state, _ = run([*NOTIFIED, Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 18))])
    assert state.status == "hearing_requested"
    refuse(state, DECIDE, RejectionCode.HEARING_REQUIRED, CASE_ID, "hearing")
    no_penalty = example("enforcement.decide_no_penalty", ENFORCER, china(2020, 9, 25))
    refuse(state, no_penalty, RejectionCode.HEARING_REQUIRED, CASE_ID, "hearing")
    hearing = {"record": "当事人到场陈述"}
    state, _ = run(
        [Action("enforcement.hold_hearing", ENFORCER, china(2020, 9, 24), hearing)], state
    )
    assert state.status == "hearing_held"
    state, events = run([DECIDE], state)
    assert state.status == "decided"
    assert events[-1].type == "enforcement.decision_made"


def test_a_fine_is_executed_only_with_the_bank_receipt() -> None:
    state, _ = run(SERVED)
    # blank is missing, not given
    blank = replace(EXECUTE, payload={"bank_receipt": "  ", "note": "已缴纳"})
    refuse_to_parse(blank, RejectionCode.MISSING_FIELD, "bank_receipt")
    cash = replace(EXECUTE, payload={"note": "当事人已现金缴纳"})
    refuse(state, cash, RejectionCode.MISSING_FIELD, "bank_receipt", CASE_ID)
    state, event = take(state, EXECUTE)
    assert state.status == "executed"
    assert event.payload["bank_receipt"] == "GDNX2020101200123"


def test_a_warning_is_executed_without_a_bank_receipt_and_need_not_be_published() -> None:
    warning = {"kind": "warning", "amount_fen": 0, "description": "警告"}
    not_published = {
        "published": False,
        "reason": "仅受警告处罚（市场监督管理行政处罚信息公示规定 第二条第二款）",
    }
    state, _ = run(
        [
            *INVESTIGATING,
            review(major=False),
            notice(warning),
            replace(DECIDE, payload=decision(penalty=warning)),
            SERVE,
            replace(EXECUTE, payload={"note": "已警告"}),
            replace(PUBLISH, at=china(2020, 10, 12, 10, 0), payload=not_published),
        ]
    )
    assert state.status == "executed"
    assert state.penalty_amount_fen == 0
    end(state, CLOSE, "enforcement.closed", "closed")


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
        pytest.param(
            [*INVESTIGATING, review(major=True), legal_review(True)],
            replace(DISCUSS, at=china(2020, 9, 17)),
            ("'legally_reviewed'", "notified"),
            id="collective-discussion-before-the-party-was-heard",
        ),
        pytest.param(
            SERVED,
            replace(CLOSE, at=china(2020, 9, 28)),
            ("'served'",),
            id="closing-with-the-fine-neither-paid-nor-taken-to-court",
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


# --- two officers on investigative acts (行政处罚法 第四十二条、第五十五条) ----------------------


def test_evidence_needs_a_second_certified_officer_of_the_department() -> None:
    state, _ = run([REGISTER, FILE])
    alone = replace(EVIDENCE, payload={"items": ITEMS})
    refuse(state, alone, RejectionCode.TWO_OFFICERS_REQUIRED, "nobody else is named")
    # the second officer acting, the first named: the same two people, either way round
    other_way = replace(
        EVIDENCE, actor=ENFORCER_2, payload={"items": ITEMS, "officers": on_duty(ENFORCER)}
    )
    state, event = take(state, other_way)
    assert event.actor.certificate == "44200120190006"
    assert event.payload["officers"] == on_duty(ENFORCER)
    assert state.status == "investigating"


def test_each_officer_present_is_named_once() -> None:
    """The record says who was present: the same officer twice is one officer, and a list that
    names someone twice is refused rather than kept as it came."""
    state, _ = run([REGISTER, FILE])
    twice = replace(EVIDENCE, payload={"items": ITEMS, "officers": on_duty(ENFORCER_2, ENFORCER_2)})
    refuse(state, twice, RejectionCode.INVALID_PAYLOAD, "DY-ZF-06", "twice")


def test_sampling_for_testing_is_an_investigative_act_too() -> None:
    state, _ = run([REGISTER])
    referral = example("enforcement.start_testing", ENFORCER, china(2020, 9, 2), officers=[])
    refuse(state, referral, RejectionCode.TWO_OFFICERS_REQUIRED, "第四十二条")


# --- testing and appraisal stop the clocks ----------------------------------------------------


def start_testing(day: int, month: int = 9) -> Action:
    return example("enforcement.start_testing", ENFORCER, china(2020, month, day))


def finish_testing(day: int, month: int = 9) -> Action:
    return example("enforcement.finish_testing", ENFORCER, china(2020, month, day))


def test_testing_before_filing_stops_the_filing_clock_and_holds_the_filing() -> None:
    state, _ = run([REGISTER, start_testing(2)])  # Wed 2020-09-02
    assert state.status == "source_registered"
    assert state.testing_since == china(2020, 9, 2)
    clock = state.clock("enforcement.filing")
    assert clock is not None
    assert clock.paused_by == frozenset({"enforcement.testing_started"})
    refuse(state, replace(FILE, at=china(2020, 9, 3)), RejectionCode.ILLEGAL_TRANSITION, "testing")
    refuse(state, replace(DECLINE, at=china(2020, 9, 3)), RejectionCode.ILLEGAL_TRANSITION)
    refuse(state, start_testing(3), RejectionCode.ILLEGAL_TRANSITION, "still running")
    # the result comes on Wed 2020-09-09: five working days that do not count
    state, event = take(state, finish_testing(9))
    assert event.type == "enforcement.testing_finished"
    assert state.testing_since is None
    # not 2020-09-22: five working days later, Sun 2020-09-27 (a make-up day) among them
    assert due(state, "enforcement.filing") == date(2020, 9, 28)
    state, _ = run([replace(FILE, at=china(2020, 9, 10))], state)
    assert state.status == "filed"


def test_testing_during_the_investigation_stops_the_decision_clock() -> None:
    state, _ = run(INVESTIGATING)
    assert due(state, "enforcement.decision") == date(2020, 12, 2)
    state, _ = run([start_testing(11)], state)
    refuse(state, review(major=False), RejectionCode.ILLEGAL_TRANSITION, "testing")
    state, _ = run([finish_testing(10, month=10)], state)  # 29 calendar days later
    assert due(state, "enforcement.decision") == date(2020, 12, 31)


def test_a_result_without_testing_is_refused() -> None:
    state, _ = run([REGISTER])
    refuse(state, finish_testing(2), RejectionCode.ILLEGAL_TRANSITION, "no testing")


# --- the party's statement and defence, and the hearing ---------------------------------------


def statement(day: int, **payload: Any) -> Action:
    return Action("enforcement.record_statement", ENFORCER, china(2020, 9, day), payload)


STATED = {"statement": "已改正，请求从轻", "review": "理由部分成立，予以采纳", "adopted": True}


def test_no_decision_inside_the_window_without_the_party_s_statement() -> None:
    state, _ = run(NOTIFIED)
    assert state.notified_at == china(2020, 9, 17)
    early = replace(DECIDE, at=china(2020, 9, 22, 17, 0))
    refuse(state, early, RejectionCode.PERIOD_NOT_OVER, "2020-09-17", "until 2020-09-22", "陈述")
    # the window over, the party silent: the decision may be made
    state, _ = run([replace(DECIDE, at=china(2020, 9, 23))], state)
    assert state.status == "decided"


@pytest.mark.parametrize(
    "said",
    [
        pytest.param(STATED, id="a-statement-and-its-review"),
        pytest.param({"waived": True}, id="waived"),
    ],
)
def test_the_party_heard_or_waiving_the_decision_may_come_at_once(said: dict[str, Any]) -> None:
    state, event = take(run(NOTIFIED)[0], statement(18, **said))
    assert event.type == "enforcement.statement_recorded"
    assert state.status == "notified"
    assert state.statement_given != state.statement_waived
    state, _ = run([replace(DECIDE, at=china(2020, 9, 18, 15, 0))], state)
    assert state.status == "decided"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"statement": "不服"}, id="a-statement-not-reviewed"),
        pytest.param({"statement": " ", "review": "复核"}, id="blank"),
    ],
)
def test_a_statement_needs_its_review_or_an_express_waiver(payload: dict[str, Any]) -> None:
    state, _ = run(NOTIFIED)
    refuse(state, statement(18, **payload), RejectionCode.MISSING_FIELD, "复核")


def test_a_hearing_is_asked_for_within_five_days_of_the_notice() -> None:
    state, _ = run(NOTIFIED)
    late = Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 23))
    refuse(state, late, RejectionCode.PERIOD_EXPIRED, "by 2020-09-22")
    on_time = replace(late, at=china(2020, 9, 22, 16, 0))
    state, _ = take(state, on_time)
    assert state.status == "hearing_requested"


def test_the_hearing_is_not_counted_in_the_decision_period() -> None:
    state, _ = run([*NOTIFIED, Action("enforcement.request_hearing", ENFORCER, china(2020, 9, 18))])
    clock = state.clock("enforcement.decision")
    assert clock is not None
    assert clock.paused_by == frozenset({"enforcement.hearing_requested"})
    hearing = Action("enforcement.hold_hearing", ENFORCER, china(2020, 10, 9), {"record": "到场"})
    state, _ = run([hearing], state)
    assert due(state, "enforcement.decision") == date(2020, 12, 23)  # 21 days later


def test_the_decision_is_never_heavier_than_the_notice() -> None:
    state, _ = run([*NOTIFIED, statement(18, **STATED)])
    heavier = {**FINE, "amount_fen": 800_000}
    decide = replace(DECIDE, payload=decision(penalty=heavier))
    refuse(state, decide, RejectionCode.INVALID_PAYLOAD, "800000", "500000", "第四十四条")
    # a new notice of the heavier penalty opens a new window, and the old statement answered
    # the old notice
    state, _ = run([notice(heavier, day=24)], state)
    assert not state.statement_given
    refuse(state, replace(decide, at=china(2020, 9, 25)), RejectionCode.PERIOD_NOT_OVER)
    state, _ = run([replace(decide, at=china(2020, 9, 30))], state)
    assert state.penalty_amount_fen == 800_000


# --- collective discussion (行政处罚法 第五十七条第二款) -----------------------------------------


def test_a_complex_case_needs_a_collective_discussion_before_a_penalty() -> None:
    state, _ = run([*INVESTIGATING, review(major=False, complex_=True), NOTIFY])
    assert state.complex
    assert not state.major
    late = replace(DECIDE, at=china(2020, 9, 24))
    refuse(state, late, RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED, "complex", "集体讨论")
    state, event = take(state, DISCUSS)
    assert event.payload["participants"] == ["陈局长", "李副局长", "张副局长"]
    state, _ = run([late], state)
    assert state.status == "decided"


def test_a_new_notice_needs_a_new_discussion() -> None:
    state, _ = run([*INVESTIGATING, review(major=False, complex_=True), NOTIFY, DISCUSS])
    state, _ = run([notice(day=24)], state)
    assert not state.collective_discussion
    later = replace(DECIDE, at=china(2020, 9, 30))
    refuse(state, later, RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED)


def test_a_discussion_needs_at_least_two_heads() -> None:
    one = replace(DISCUSS, payload={"participants": ["陈局长"], "conclusion": "同意"})
    refuse_to_parse(one, RejectionCode.INVALID_PAYLOAD, "participants")


# --- decisions not to penalise (不予行政处罚) --------------------------------------------------


def no_penalty(day: int = 18, **payload: Any) -> Action:
    return example("enforcement.decide_no_penalty", ENFORCER, china(2020, 9, day), **payload)


def test_a_decision_not_to_penalise_is_served_and_closes_without_execution() -> None:
    state, _ = run([*INVESTIGATING, review(major=False, complex_=True), no_penalty()])
    assert state.status == "no_penalty_decided"
    assert not state.penalty_decided
    assert [c.rule for c in state.clocks] == ["enforcement.service"]
    assert due(state, "enforcement.service") == date(2020, 9, 25)
    serve = Action(
        "enforcement.serve_no_penalty_decision",
        ENFORCER,
        china(2020, 9, 21),
        {"method": "直接送达"},
    )
    state, event = take(state, serve)
    assert event.type == "enforcement.no_penalty_decision_served"
    assert state.status == "no_penalty_served"
    assert state.clocks == ()  # nothing to pay, nothing to publish
    refuse(state, EXECUTE, RejectionCode.ILLEGAL_TRANSITION)
    end(state, CLOSE, "enforcement.closed", "closed")


def test_not_penalised_for_a_minor_first_offence_the_party_is_educated() -> None:
    state, _ = run([*INVESTIGATING, review(major=False)])
    uneducated = no_penalty(ground="first_offence", education="")
    refuse(state, uneducated, RejectionCode.MISSING_FIELD, "education", "第三十三条第三款")
    # facts not established: nobody to educate
    state, _ = run([no_penalty(ground="facts_not_established", education="")], state)
    assert state.status == "no_penalty_decided"


def test_a_major_case_not_penalised_still_needs_its_legal_review() -> None:
    state, _ = run([*INVESTIGATING, review(major=True)])
    refuse(state, no_penalty(), RejectionCode.LEGAL_REVIEW_REQUIRED, "法制审核")
    state, _ = run([legal_review(True, day=17), no_penalty()], state)
    assert state.status == "no_penalty_decided"  # no collective discussion: no penalty given


# --- publication (公示) ----------------------------------------------------------------------


def test_publication_is_recorded_once_with_where_or_why_not() -> None:
    state, _ = run(SERVED)
    nowhere = replace(PUBLISH, payload={"published": True})
    refuse(state, nowhere, RejectionCode.MISSING_FIELD, "payload.channel")
    unexplained = replace(PUBLISH, payload={"published": False})
    refuse(state, unexplained, RejectionCode.MISSING_FIELD, "payload.reason")
    state, _ = run([PUBLISH], state)
    refuse(state, replace(PUBLISH, at=china(2020, 9, 29)), RejectionCode.ILLEGAL_TRANSITION)
    assert state.clock("enforcement.publication") is None


def test_closing_waits_for_the_publication() -> None:
    state, _ = run([*SERVED, EXECUTE])
    refuse(state, CLOSE, RejectionCode.PUBLICATION_REQUIRED, "公示")
    state, _ = run([replace(PUBLISH, at=china(2020, 10, 12, 15, 0))], state)
    end(state, CLOSE, "enforcement.closed", "closed")


# --- the unpaid fine: demand, late-payment fine, court ----------------------------------------


def demand(at_: Any, late_fine_fen: int, perform_by: str = "2020-11-20") -> Action:
    payload = {"late_fine_fen": late_fine_fen, "perform_by": perform_by, "method": "直接送达"}
    return Action("enforcement.demand_payment", ENFORCER, at_, payload)


NO_APPEAL = example("enforcement.record_no_appeal", ENFORCER, china(2021, 3, 29))
"""Six months after the service on 2020-09-27 end on Sat 2021-03-27, moved to Mon 2021-03-29;
the record comes the day after."""


def apply_to_court(at_: Any, amount_fen: int) -> Action:
    payload = {"court": "中山市第一人民法院", "amount_fen": amount_fen, "note": "申请书"}
    return Action("enforcement.apply_to_court", ENFORCER, at_, payload)


def test_an_unpaid_fine_reaches_a_lawful_conclusion_through_the_court() -> None:
    state, _ = run([*SERVED, PUBLISH])
    assert due(state, "enforcement.payment") == date(2020, 10, 12)
    # the fifteen days are the party's: no demand before they end
    early = demand(china(2020, 10, 12, 16, 0), 0)
    refuse(state, early, RejectionCode.PERIOD_NOT_OVER, "until 2020-10-12", "第六十七条")
    # ten days overdue on Thu 2020-10-22: 3% a day of ¥5,000 is at most ¥1,500
    greedy = demand(china(2020, 10, 22), 150_001)
    refuse(
        state, greedy, RejectionCode.INVALID_PAYLOAD, "10 day(s)", "at most 150000", "第七十二条"
    )
    backdated = demand(china(2020, 10, 22), 150_000, perform_by="2020-10-22")
    refuse(state, backdated, RejectionCode.INVALID_PAYLOAD, "perform_by")
    state, _ = take(state, demand(china(2020, 10, 22), 150_000))
    assert state.status == "payment_demanded"
    assert state.late_fine_fen == 150_000
    assert state.clock("enforcement.payment") is None  # the office has acted on it
    # the court only once the periods for review and suit are over, and the office said so
    too_soon = apply_to_court(china(2020, 11, 5), 650_000)
    refuse(state, too_soon, RejectionCode.PERIOD_NOT_OVER, "record_no_appeal", "第五十三条")
    early_record = replace(NO_APPEAL, at=china(2021, 3, 29, 17, 0))
    refuse(state, early_record, RejectionCode.PERIOD_NOT_OVER, "until 2021-03-29", "第四十六条")
    state, _ = run([replace(NO_APPEAL, at=china(2021, 3, 30))], state)
    assert state.appeal_period_over_at == china(2021, 3, 30)
    assert due(state, "enforcement.court_application") == date(2021, 6, 30)
    refuse(state, replace(NO_APPEAL, at=china(2021, 3, 31)), RejectionCode.ILLEGAL_TRANSITION)
    more = apply_to_court(china(2021, 4, 1), 650_001)
    refuse(state, more, RejectionCode.INVALID_PAYLOAD, "650000")
    state, _ = run([apply_to_court(china(2021, 4, 1), 650_000)], state)
    assert state.status == "court_applied"
    assert state.clocks == ()
    refuse(state, replace(CLOSE, at=china(2021, 4, 2)), RejectionCode.ILLEGAL_TRANSITION)
    accepted = example("enforcement.record_court_acceptance", ENFORCER, china(2021, 4, 6))
    state, _ = run([accepted], state)
    assert state.status == "court_accepted"
    state, _ = end(
        state,
        replace(CLOSE, at=china(2021, 4, 7)),
        "enforcement.closed",
        "closed",
    )


def test_the_late_payment_fine_never_exceeds_the_fine() -> None:
    state, _ = run(SERVED)
    # 2020-12-31 is 80 days overdue: 240% by the day, capped at the fine itself
    refuse(state, demand(china(2020, 12, 31), 500_001, "2021-01-20"), RejectionCode.INVALID_PAYLOAD)
    state, _ = run([demand(china(2020, 12, 31), 500_000, "2021-01-20")], state)
    assert state.late_fine_fen == 500_000


def test_the_court_is_asked_ten_days_after_the_demand() -> None:
    state, _ = run([*SERVED, replace(NO_APPEAL, at=china(2021, 3, 30))])
    state, _ = run([demand(china(2021, 4, 1), 500_000, "2021-04-10")], state)
    ten_days = apply_to_court(china(2021, 4, 12), 1_000_000)  # 2021-04-11 + 1: Sunday moved
    refuse(state, ten_days, RejectionCode.PERIOD_NOT_OVER, "2021-04-01", "第五十四条")
    state, _ = run([apply_to_court(china(2021, 4, 13), 1_000_000)], state)
    assert state.status == "court_applied"


def test_a_fine_paid_late_is_executed_and_the_case_closes() -> None:
    state, _ = run([*SERVED, PUBLISH, demand(china(2020, 10, 22), 150_000)])
    paid = replace(
        EXECUTE,
        at=china(2020, 10, 30),
        payload={"bank_receipt": "GDNX1030", "note": "连同加处罚款"},
    )
    state, _ = run([paid], state)
    assert state.status == "executed"
    end(state, replace(CLOSE, at=china(2020, 10, 31)), "enforcement.closed", "closed")


def test_no_demand_for_a_decision_without_a_fine() -> None:
    warning = {"kind": "warning", "amount_fen": 0, "description": "警告"}
    state, _ = run(
        [
            *INVESTIGATING,
            review(major=False),
            notice(warning),
            replace(DECIDE, payload=decision(penalty=warning)),
            SERVE,
        ]
    )
    refuse(state, demand(china(2020, 10, 22), 0), RejectionCode.ILLEGAL_TRANSITION, "no fine")


# --- old events still read ---------------------------------------------------------------------


def stored_as_version_1(event: Event, dropped: str) -> Event:
    """``event`` as the code before this field stored it: version 1, without it, hashed so."""
    payload = {k: v for k, v in event.payload.items() if k != dropped}
    fields = {**event.model_dump(mode="json"), "schema_version": 1, "payload": payload}
    unhashed = Event.model_validate(fields)
    return unhashed.model_copy(update={"hash": unhashed.computed_hash(suite=SUITE)})


def test_evidence_and_reviews_recorded_before_the_rules_still_read_and_the_case_goes_on() -> None:
    _, events = run([*INVESTIGATING, review(major=False)])
    old = list(events[:2])
    evidence = stored_as_version_1(
        events[2].model_copy(update={"prev_hash": old[-1].hash}), "officers"
    )
    old.append(evidence)
    reviewed = stored_as_version_1(
        events[3].model_copy(update={"prev_hash": evidence.hash}), "complex"
    )
    old.append(reviewed)
    assert verify_chain(old)
    assert "officers" not in evidence.payload
    assert evidence.schema_version == 1
    typed_evidence = typed_payload(evidence)
    assert isinstance(typed_evidence, Evidence)
    assert typed_evidence.officers == ()  # nobody else was recorded, nobody is invented
    typed_review = typed_payload(reviewed)
    assert isinstance(typed_review, CaseReview)
    assert typed_review.complex is False
    state = fold(old)
    assert state is not None
    assert state.status == "reviewed"
    assert not state.complex
    # the case continues under the current rules
    state, event = take(state, NOTIFY)
    assert verify_chain([*old, event])
    assert fold([*old, event]) == state == evolve(fold(old), event)
