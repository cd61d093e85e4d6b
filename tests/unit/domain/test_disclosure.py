"""Information-disclosure requests (政府信息公开申请): the clock, corrections, third parties, the
answers, and who may act.

Real 2021 dates: a request received on Mon 2021-03-01 must be answered within 20 working days
(政府信息公开条例第三十三条), by Mon 2021-03-29. Qingming (Sat Apr 3 to Mon Apr 5) is a holiday and
Sun Apr 25 a make-up working day (Labour Day 2021) in the counts below.
"""

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.deadlines import Light
from events.errors import RejectionCode
from events.fields import search_texts
from events.model import CaseType
from events.payloads import DisclosureAnswerType, WithholdingGround
from events.privacy import MASK, mask_personal
from events.state import CaseState
from projections.read_models.cases import CaseFacts, facts_after
from tests.unit.domain.support import (
    CASE_ID,
    DISCLOSURE_OFFICER,
    DZ,
    ENFORCER,
    MEDIATOR,
    PETITION_OFFICER,
    SUPERVISOR,
    SYSTEM,
    XF,
    Action,
    actor,
    china,
    due,
    end,
    refuse,
    refuse_to_parse,
    run,
    take,
    walk,
)

OFFICE = DISCLOSURE_OFFICER
ANSWER = "disclosure.answer"
THIRD_PARTY = "disclosure.third_party_reply"

REGISTER = Action(
    "disclosure.register",
    OFFICE,
    china(2021, 3, 1),
    {
        "channel": "online",
        "applicant": {"name": "陈六", "phone": "13700000000"},
        "applicant_kind": "person",
        "information": "2020年南文村道路硬底化工程招投标结果",
    },
)


def answer(at: date, kind: DisclosureAnswerType, **extra: Any) -> Action:
    payload = {"answer": kind.value, "reply": "答复内容", **extra}
    return Action(ANSWER, OFFICE, china(at.year, at.month, at.day), payload)


DISCLOSE = answer(date(2021, 3, 15), DisclosureAnswerType.DISCLOSED)
CLOSE = Action("disclosure.close", OFFICE, china(2021, 3, 16), {"note": "已答复，办结"})


def correction(at: date, correct_by: str = "2021-03-12") -> Action:
    return Action(
        "disclosure.request_correction",
        OFFICE,
        china(at.year, at.month, at.day),
        {"items": "请明确工程名称", "correct_by": correct_by},
    )


CORRECTED = Action(
    "disclosure.receive_correction",
    OFFICE,
    china(2021, 3, 10),
    {"information": "2020年南文村道路硬底化工程中标公告"},
)
CONSULT = Action(
    "disclosure.consult_third_party",
    OFFICE,
    china(2021, 3, 8),
    {"consulted": "third_party", "name": "某建筑公司", "interests": "投标文件含商业秘密"},
)


def opinion(at: date, view: str) -> Action:
    return Action(
        "disclosure.record_third_party_opinion",
        OFFICE,
        china(at.year, at.month, at.day),
        {"view": view, "opinion": "" if view == "no_reply" else "意见"},
    )


def extend(at: date, days: int, clock: str = ANSWER) -> Action:
    return Action(
        "case.extend",
        OFFICE,
        china(at.year, at.month, at.day),
        {"clock": clock, "days": days, "reason": "经政府信息公开工作机构负责人同意，已告知申请人"},
    )


# --- the happy path and the answer clock ----------------------------------------------------------


def test_a_request_registered_answered_and_closed_by_the_town_office() -> None:
    (registered, answered, _), events = walk(
        [
            (REGISTER, "disclosure.registered", "registered", [ANSWER]),
            (DISCLOSE, "disclosure.answered", "answered", []),
            (CLOSE, "disclosure.closed", "closed", []),
        ]
    )
    assert registered.case_type is CaseType.DISCLOSURE
    assert registered.owner_department == DZ
    assert registered.opened_at == china(2021, 3, 1)
    assert events[0].payload["applicant"] == {
        "name": "陈六",
        "id_number": None,
        "phone": "13700000000",
        "address": None,
    }
    assert events[1].payload["answer"] == "disclosed"
    assert answered.closed_at is None
    # The answer is the reply the statistics count (回复率).
    facts = CaseFacts()
    for event in events:
        facts = facts_after(facts, event)
    assert (facts.channel, facts.replied) == ("online", True)


def test_the_answer_is_due_in_twenty_working_days_from_receipt() -> None:
    state, _ = run([REGISTER])
    assert due(state, ANSWER) == date(2021, 3, 29)
    assert state.light(china(2021, 3, 23)) is Light.GREEN
    assert state.light(china(2021, 3, 24)) is Light.YELLOW  # 3 working days left
    assert state.light(china(2021, 3, 30)) is Light.RED


def test_the_answer_may_be_extended_by_twenty_working_days_and_no_more() -> None:
    state, _ = run([REGISTER])
    refuse(state, extend(date(2021, 3, 20), 21), RejectionCode.LIMIT_EXCEEDED, "20 more day(s)")
    extended, event = take(state, extend(date(2021, 3, 20), 20))
    assert event.type == "case.deadline_extended"
    # 40 working days from Mar 1: Qingming left out, the make-up Sunday Apr 25 counted.
    assert due(extended, ANSWER) == date(2021, 4, 26)
    partly, _ = take(state, extend(date(2021, 3, 20), 5))
    assert due(partly, ANSWER) == date(2021, 4, 6)
    refuse(partly, extend(date(2021, 3, 21), 16), RejectionCode.LIMIT_EXCEEDED, "15 more")


# --- correction (补正) ----------------------------------------------------------------------------


def test_a_correction_pauses_the_clock_and_the_period_runs_afresh_from_the_corrected_request() -> (
    None
):
    states, _ = walk(
        [
            (REGISTER, "disclosure.registered", "registered", [ANSWER]),
            (
                correction(date(2021, 3, 3)),
                "disclosure.correction_requested",
                "correction_requested",
                [ANSWER],
            ),
            (CORRECTED, "disclosure.correction_received", "corrected", [ANSWER]),
        ]
    )
    waiting, corrected = states[1], states[2]
    clock = waiting.clock(ANSWER)
    assert clock is not None
    assert clock.paused_since == china(2021, 3, 3)
    assert clock.paused_by == frozenset({"disclosure.correction_requested"})
    assert waiting.correction_due == date(2021, 3, 12)
    # The applicant's time is not the office's: frozen green while the request is with them.
    assert waiting.light(china(2021, 6, 1)) is Light.GREEN
    # 第三十条: 20 working days from Wed Mar 10 (not Mar 29 plus the 5 paused days, Apr 6).
    assert due(corrected, ANSWER) == date(2021, 4, 8)
    resumed = corrected.clock(ANSWER)
    assert resumed is not None
    assert (resumed.started_on, resumed.paused_since) == (date(2021, 3, 10), None)
    assert corrected.correction_due is None


def test_a_correction_is_asked_within_seven_working_days_and_only_once() -> None:
    registered, _ = run([REGISTER])
    # Mar 10 is the 7th working day after Mar 1; Mar 11 is too late.
    refuse(
        registered,
        correction(date(2021, 3, 11), "2021-03-25"),
        RejectionCode.ILLEGAL_TRANSITION,
        "7 working days",
        "2021-03-10",
        "第三十条",
    )
    asked, _ = take(registered, correction(date(2021, 3, 10), "2021-03-25"))
    assert asked.status == "correction_requested"
    refuse(
        registered,
        correction(date(2021, 3, 3), "2021-03-03"),
        RejectionCode.INVALID_PAYLOAD,
        "payload.correct_by",
    )
    corrected, _ = run([REGISTER, correction(date(2021, 3, 3)), CORRECTED])
    again = correction(date(2021, 3, 11), "2021-03-20")
    refuse(corrected, again, RejectionCode.ILLEGAL_TRANSITION, "'corrected'")


def test_a_request_not_corrected_in_the_time_given_is_deemed_withdrawn() -> None:
    waiting, _ = run([REGISTER, correction(date(2021, 3, 3))])
    deem = Action(
        "disclosure.deem_withdrawn",
        OFFICE,
        china(2021, 3, 12, 17, 0),
        {"reason": "申请人无正当理由逾期未补正"},
    )
    refuse(waiting, deem, RejectionCode.ILLEGAL_TRANSITION, "until 2021-03-12", "第三十条")
    state, event = end(
        waiting, replace(deem, at=china(2021, 3, 15)), "disclosure.withdrawal_deemed", "withdrawn"
    )
    assert event.payload == {"reason": "申请人无正当理由逾期未补正"}
    assert state.correction_due is None
    refuse(state, replace(CORRECTED, at=china(2021, 3, 16)), RejectionCode.ILLEGAL_TRANSITION)
    # Only a request waiting for its correction can be deemed withdrawn.
    registered, _ = run([REGISTER])
    refuse(registered, replace(deem, at=china(2021, 3, 15)), RejectionCode.ILLEGAL_TRANSITION)


def test_a_late_correction_is_still_taken_and_the_answer_waits_for_it() -> None:
    waiting, _ = run([REGISTER, correction(date(2021, 3, 3))])
    early = answer(date(2021, 3, 5), DisclosureAnswerType.DISCLOSED)
    refuse(waiting, early, RejectionCode.ILLEGAL_TRANSITION, "waits for its correction")
    # A good reason for being late is the office's to weigh: the law deems withdrawn only a
    # request not corrected without one.
    late = replace(CORRECTED, at=china(2021, 3, 16))
    corrected, _ = take(waiting, late)
    assert due(corrected, ANSWER) == date(2021, 4, 14)


# --- third parties (征求第三方意见) ---------------------------------------------------------------


def test_consultation_time_is_left_out_of_the_answer_period() -> None:
    states, _ = walk(
        [
            (REGISTER, "disclosure.registered", "registered", [ANSWER]),
            (CONSULT, "disclosure.third_party_consulted", "consulting", [ANSWER, THIRD_PARTY]),
            (
                opinion(date(2021, 3, 19), "consents"),
                "disclosure.third_party_replied",
                "consulted",
                [ANSWER],
            ),
        ]
    )
    consulting, consulted = states[1], states[2]
    held = consulting.clock(ANSWER)
    assert held is not None
    assert held.paused_since == china(2021, 3, 8)
    assert due(consulting, THIRD_PARTY) == date(2021, 3, 29)  # 第三十二条: 15 working days
    # Mar 8 to Mar 19 is 9 working days: Mar 29 plus 9, past Qingming.
    assert due(consulted, ANSWER) == date(2021, 4, 12)
    assert not consulted.third_party_objected


def test_no_reply_is_recorded_only_once_the_fifteen_working_days_are_over() -> None:
    consulting, _ = run([REGISTER, CONSULT])
    refuse(
        consulting,
        opinion(date(2021, 3, 29), "no_reply"),
        RejectionCode.ILLEGAL_TRANSITION,
        "until 2021-03-29",
        "第三十二条",
    )
    state, _ = take(consulting, opinion(date(2021, 3, 30), "no_reply"))
    assert state.status == "consulted"
    assert [c.rule for c in state.clocks] == [ANSWER]
    # The whole wait, Mar 8 to Mar 30 (16 working days), is left out of the period.
    assert due(state, ANSWER) == date(2021, 4, 21)


def test_the_answer_waits_for_the_consulted_party() -> None:
    consulting, _ = run([REGISTER, CONSULT])
    refuse(
        consulting,
        answer(date(2021, 3, 9), DisclosureAnswerType.DISCLOSED),
        RejectionCode.ILLEGAL_TRANSITION,
        "waits for the opinion",
        "第三十二条",
    )


def test_over_a_third_party_s_objection_disclosure_needs_the_public_interest() -> None:
    objected, _ = run([REGISTER, CONSULT, opinion(date(2021, 3, 19), "objects")])
    assert objected.third_party_objected
    refuse(
        objected,
        answer(date(2021, 3, 22), DisclosureAnswerType.DISCLOSED),
        RejectionCode.MISSING_FIELD,
        "payload.public_interest",
        "第三十二条",
    )
    # Partly disclosing withholds the part objected to, on its ground.
    partly = answer(
        date(2021, 3, 22), DisclosureAnswerType.PARTLY_DISCLOSED, ground="third_party_rights"
    )
    assert take(objected, partly)[0].status == "answered"
    reason = "涉及公共资金使用，不公开将严重损害公共利益；已书面告知第三方"
    state, event = take(
        objected,
        answer(date(2021, 3, 22), DisclosureAnswerType.DISCLOSED, public_interest=reason),
    )
    assert (state.status, event.payload["public_interest"]) == ("answered", reason)
    withheld = answer(date(2021, 3, 22), DisclosureAnswerType.WITHHELD, ground="third_party_rights")
    assert take(objected, withheld)[0].status == "answered"
    # A later party consenting does not undo an earlier one's objection.
    again = replace(CONSULT, at=china(2021, 3, 22))
    twice, _ = run([again, opinion(date(2021, 3, 23), "consents")], objected)
    assert twice.third_party_objected


def test_suspension_and_consultation_hold_the_clock_together() -> None:
    consulting, _ = run([REGISTER, CONSULT])
    suspend = Action("case.suspend", OFFICE, china(2021, 3, 10), {"reason": "申请人申请中止"})
    resume = Action("case.resume", OFFICE, china(2021, 3, 15), {"note": "恢复"})
    suspended, _ = take(consulting, suspend)
    resumed, _ = take(suspended, resume)
    assert resumed.status == "consulting"
    held = resumed.clock(ANSWER)
    assert held is not None
    # Still held by the consultation, from the day it began.
    assert (held.paused_since, held.paused_by) == (
        china(2021, 3, 8),
        frozenset({"disclosure.third_party_consulted"}),
    )
    replied, _ = take(resumed, opinion(date(2021, 3, 19), "consents"))
    assert due(replied, ANSWER) == date(2021, 4, 12)


# --- the answers (第三十六条 to 第三十九条) -------------------------------------------------------

NEEDS: dict[DisclosureAnswerType, dict[str, str]] = {
    DisclosureAnswerType.WITHHELD: {"ground": WithholdingGround.STATE_SECRET.value},
    DisclosureAnswerType.PARTLY_DISCLOSED: {"ground": WithholdingGround.DELIBERATIVE.value},
    DisclosureAnswerType.NOT_THIS_OFFICE: {"holder": "中山市自然资源局"},
}


@pytest.mark.parametrize("kind", list(DisclosureAnswerType))
def test_every_answer_type_is_recorded_with_what_it_needs(kind: DisclosureAnswerType) -> None:
    registered, _ = run([REGISTER])
    needs = NEEDS.get(kind, {})
    for field in needs:
        refuse(
            registered,
            answer(date(2021, 3, 15), kind),
            RejectionCode.MISSING_FIELD,
            f"payload.{field}",
        )
    state, event = take(registered, answer(date(2021, 3, 15), kind, **needs))
    assert state.status == "answered"
    assert state.clocks == ()
    assert event.payload["answer"] == kind.value
    assert {k: event.payload[k] for k in needs} == needs
    closed, _ = take(state, CLOSE)
    assert closed.status == "closed"


def test_a_ground_or_another_office_only_where_the_answer_has_one() -> None:
    registered, _ = run([REGISTER])
    invalid = RejectionCode.INVALID_PAYLOAD
    for kind in (DisclosureAnswerType.DISCLOSED, DisclosureAnswerType.DOES_NOT_EXIST):
        refuse(registered, answer(date(2021, 3, 15), kind, ground="state_secret"), invalid)
    unknown = answer(date(2021, 3, 15), DisclosureAnswerType.WITHHELD, ground="x")
    refuse_to_parse(unknown, invalid, "ground")
    refuse(
        registered,
        answer(date(2021, 3, 15), DisclosureAnswerType.REPEATED, holder="中山市自然资源局"),
        invalid,
        "payload.holder",
    )


def test_closing_needs_the_answer() -> None:
    for steps in ([REGISTER], [REGISTER, CONSULT], [REGISTER, correction(date(2021, 3, 3))]):
        state, _ = run(steps)
        refuse(state, CLOSE, RejectionCode.REPLY_REQUIRED, "information-disclosure", CASE_ID)


# --- who may act ----------------------------------------------------------------------------------


def registered() -> CaseState:
    return run([REGISTER])[0]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        (actor(PETITION_OFFICER), RejectionCode.WRONG_DEPARTMENT),  # an officer of 信访办
        (actor(MEDIATOR), RejectionCode.FORBIDDEN_ROLE),
        (actor(ENFORCER), RejectionCode.FORBIDDEN_ROLE),
        (actor(SUPERVISOR), RejectionCode.FORBIDDEN_ROLE),
        (SYSTEM, RejectionCode.FORBIDDEN_ROLE),
        (actor(OFFICE, "mediator"), RejectionCode.FORBIDDEN_ROLE),  # a role they do not hold
    ],
)
def test_only_the_owning_office_s_officers_answer(who: dict[str, Any], code: RejectionCode) -> None:
    refuse(registered(), replace(DISCLOSE, actor=who), code)


def test_a_mediator_cannot_register_a_request() -> None:
    refuse(None, replace(REGISTER, actor=MEDIATOR), RejectionCode.FORBIDDEN_ROLE, "mediator")


def test_a_supervisor_notes_and_the_office_it_was_transferred_to_answers() -> None:
    state, _ = run(
        [
            REGISTER,
            Action(
                "case.note_supervision",
                SUPERVISOR,
                china(2021, 3, 2),
                {"note": "请按期答复", "respond_by": "2021-03-26"},
            ),
            Action(
                "case.transfer",
                OFFICE,
                china(2021, 3, 3),
                {"to_department": XF, "reason": "信息由信访办保存"},
            ),
        ]
    )
    assert state.owner_department == XF
    refuse(state, DISCLOSE, RejectionCode.WRONG_DEPARTMENT, XF)
    answered, event = take(state, replace(DISCLOSE, actor=PETITION_OFFICER))
    assert (answered.status, event.department) == ("answered", XF)


def test_the_applicant_and_the_consulted_party_are_personal_data() -> None:
    _, events = run([REGISTER, CONSULT])
    shown = [mask_personal(e.type, e.schema_version, e.payload) for e in events]
    assert [s.personal for s in shown] == [True, True]
    assert shown[0].payload["applicant"] == {
        "name": MASK,
        "id_number": None,
        "phone": MASK,
        "address": None,
    }
    assert shown[0].payload["information"] == "2020年南文村道路硬底化工程招投标结果"
    assert (shown[1].payload["name"], shown[1].payload["interests"]) == (MASK, "投标文件含商业秘密")


def test_a_request_is_found_by_the_information_asked_for_never_by_its_applicant() -> None:
    assert REGISTER.payload is not None
    assert search_texts("disclosure.registered", REGISTER.payload) == [
        ("information", "2020年南文村道路硬底化工程招投标结果")
    ]
    assert search_texts("disclosure.correction_received", CORRECTED.payload or {}) == [
        ("information", "2020年南文村道路硬底化工程中标公告")
    ]
    assert search_texts("disclosure.third_party_consulted", CONSULT.payload or {}) == []
