"""Information-disclosure requests (政府信息公开申请, 依申请公开): registration, correction,
consultation of third parties, answer and closing.

政府信息公开条例 (国务院令第711号, 2019) as the town office (党政办) meets it: a request is
registered on the day of receipt (第三十一条); an unclear one is sent back once for correction
within 7 working days, and one not corrected in the time given is deemed withdrawn (第三十条);
third parties whose rights disclosure could harm are consulted (第三十二条); the answer is one
of 第三十六条 to 第三十九条. The clocks (answer within 20 working days, extendable by 20,
correction and consultation time left out) are in ``events.deadlines``.
"""

from datetime import datetime
from typing import Any

from events import payloads as p
from events.calendar import add_working_days, local_day
from events.errors import Rejection, RejectionCode, reject
from events.lifecycles.shared import CLOSED, lifecycle, reply_before_closing
from events.lifecycles.table import Step
from events.model import CaseType
from events.officers import Role
from events.state import CaseState, Context

CORRECTION_WITHIN = 7
"""Working days from receipt to ask for a correction (第三十条)."""
THIRD_PARTY_CLOCK = "disclosure.third_party_reply"

_WITHHOLDING = frozenset({p.DisclosureAnswerType.WITHHELD, p.DisclosureAnswerType.PARTLY_DISCLOSED})


def _check_correction_request(
    state: CaseState, payload: p.CorrectionRequest, ctx: Context, at: datetime
) -> Rejection | None:
    received, today = local_day(state.opened_at), local_day(at)
    last_day = add_working_days(received, CORRECTION_WITHIN)
    if today > last_day:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"request {state.case_id} was received on {received}: a correction is asked once,"
            f" within {CORRECTION_WITHIN} working days (by {last_day}; 政府信息公开条例第三十条);"
            " answer the request as it stands",
        )
    if payload.correct_by <= today:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.correct_by {payload.correct_by} must leave the applicant time: a day after"
            f" {today}",
        )
    return None


def _check_deemed_withdrawn(
    state: CaseState, payload: p.Reason, ctx: Context, at: datetime
) -> Rejection | None:
    due = state.correction_due
    if due is not None and local_day(at) <= due:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"the applicant of request {state.case_id} has until {due} to correct it: only a"
            " request not corrected in the time given is deemed withdrawn"
            " (政府信息公开条例第三十条)",
        )
    return None


def _check_consultation_reply(
    state: CaseState, payload: p.ConsultationReply, ctx: Context, at: datetime
) -> Rejection | None:
    clock = state.clock(THIRD_PARTY_CLOCK)
    if payload.view is p.ConsultationView.NO_REPLY and clock is not None and at < clock.due_at():
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"the party consulted on request {state.case_id} has until {clock.due_day()} to give"
            " its opinion (政府信息公开条例第三十二条): no reply can be recorded before then",
        )
    return None


def _check_answer(
    state: CaseState, payload: p.DisclosureAnswer, ctx: Context, _: datetime
) -> Rejection | None:
    answer = payload.answer
    if answer in _WITHHOLDING and payload.ground is None:
        return reject(
            RejectionCode.MISSING_FIELD,
            f"payload.ground: an answer '{answer}' withholds information, and must name the"
            " legal ground (政府信息公开条例第十四条至第十六条; 第三十六条第三项)",
        )
    if answer not in _WITHHOLDING and payload.ground is not None:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.ground: an answer '{answer}' withholds nothing, so it has no ground",
        )
    if answer is p.DisclosureAnswerType.NOT_THIS_OFFICE and payload.holder is None:
        return reject(
            RejectionCode.MISSING_FIELD,
            "payload.holder: an answer 'not_this_office' names the office that holds the"
            " information (政府信息公开条例第三十六条第五项)",
        )
    if answer is not p.DisclosureAnswerType.NOT_THIS_OFFICE and payload.holder is not None:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.holder: an answer '{answer}' names no other office (only 'not_this_office'"
            " does)",
        )
    # Partly disclosing withholds (with its ground) what the objection was about.
    disclosed = answer is p.DisclosureAnswerType.DISCLOSED
    if disclosed and state.third_party_objected and payload.public_interest is None:
        return reject(
            RejectionCode.MISSING_FIELD,
            f"payload.public_interest: a third party objected to disclosing on request"
            f" {state.case_id}; it is disclosed only when withholding would gravely harm the"
            " public interest, and the third party is told why in writing"
            " (政府信息公开条例第三十二条)",
        )
    return None


def _explain_answer(
    state: CaseState, payload: p.DisclosureAnswer, ctx: Context, _: datetime
) -> Rejection | None:
    if state.status == "consulting":
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"request {state.case_id} waits for the opinion of the party consulted: record it,"
            " or that none came within 15 working days, before answering"
            " (政府信息公开条例第三十二条)",
        )
    if state.status == "correction_requested":
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"request {state.case_id} waits for its correction (due {state.correction_due}):"
            " record the corrected request, or deem it withdrawn once that day has passed"
            " (政府信息公开条例第三十条)",
        )
    return None


def _objection(state: CaseState, payload: p.ConsultationReply) -> dict[str, Any]:
    objects = payload.view is p.ConsultationView.OBJECTS
    return {"third_party_objected": state.third_party_objected or objects}


_DISCLOSURE_STATUSES = {
    "registered": "已登记 / Registered",
    "correction_requested": "待补正 / Awaiting correction",
    "corrected": "已补正 / Corrected",
    "consulting": "征求意见中 / Consulting a third party",
    "consulted": "已征求意见 / Third party consulted",
    "answered": "已答复 / Answered",
    "withdrawn": "视为放弃申请 / Deemed withdrawn",
    CLOSED: "已办结 / Closed",
}
_BEFORE_ANSWER = frozenset({"registered", "corrected", "consulted"})

DISCLOSURE = lifecycle(
    CaseType.DISCLOSURE,
    "政府信息公开申请 / Information-disclosure request",
    Role.OFFICER,
    _DISCLOSURE_STATUSES,
    frozenset({"withdrawn", CLOSED}),
    (
        Step(
            "disclosure.register",
            "disclosure.registered",
            "登记 / Register the request",
            p.DisclosureRequested,
            frozenset(),
            "registered",
        ),
        Step(
            "disclosure.request_correction",
            "disclosure.correction_requested",
            "告知补正 / Ask for a correction",
            p.CorrectionRequest,
            # Only from "registered": the law allows one request for correction (一次性告知).
            frozenset({"registered"}),
            "correction_requested",
            check=_check_correction_request,
            effect=lambda s, pl: {"correction_due": pl.correct_by},
        ),
        Step(
            "disclosure.receive_correction",
            "disclosure.correction_received",
            "收到补正 / Corrected request received",
            p.CorrectionReceived,
            frozenset({"correction_requested"}),
            "corrected",
            # A correction after the day given is still taken: the applicant may have had good
            # reason (无正当理由逾期不补正 is what deems it withdrawn).
            effect=lambda s, pl: {"correction_due": None},
        ),
        Step(
            "disclosure.deem_withdrawn",
            "disclosure.withdrawal_deemed",
            "视为放弃申请 / Deem withdrawn (not corrected in time)",
            p.Reason,
            frozenset({"correction_requested"}),
            "withdrawn",
            check=_check_deemed_withdrawn,
            effect=lambda s, pl: {"correction_due": None},
        ),
        Step(
            "disclosure.consult_third_party",
            "disclosure.third_party_consulted",
            "征求第三方意见 / Consult a third party",
            p.Consultation,
            # One party at a time: the answer clock stands still until its opinion is recorded.
            _BEFORE_ANSWER,
            "consulting",
        ),
        Step(
            "disclosure.record_third_party_opinion",
            "disclosure.third_party_replied",
            "第三方意见 / The consulted party's opinion",
            p.ConsultationReply,
            frozenset({"consulting"}),
            "consulted",
            check=_check_consultation_reply,
            effect=_objection,
        ),
        Step(
            "disclosure.answer",
            "disclosure.answered",
            "答复 / Answer the applicant",
            p.DisclosureAnswer,
            _BEFORE_ANSWER,
            "answered",
            check=_check_answer,
            explain=_explain_answer,
        ),
        Step(
            "disclosure.close",
            "disclosure.closed",
            "办结 / Close",
            p.Note,
            frozenset({"answered"}),
            CLOSED,
            explain=reply_before_closing(
                "information-disclosure request",
                frozenset(_DISCLOSURE_STATUSES) - {"answered", "withdrawn", CLOSED},
            ),
        ),
    ),
)
