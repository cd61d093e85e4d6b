"""Petitions (信访): registration, acceptance, handling, opinion, and the petitioner's two
reviews by the authorities above (信访工作条例, 2022).

The handling office issues a written opinion (处理意见). A petitioner who contests it may, within
30 days of receiving it, ask the authority above the handling office for a review (复查); one
who contests the review opinion may, within 30 days of receiving that, ask the authority above
the reviewing body for a second review (复核). Each reviewing body answers within 30 days of the
request; the second review's hearing (听证) does not count. After the second review the matter
has reached its final stage (三级终结): a further request on the same facts is not accepted.
A review can be asked after the handling office closed the case: the case leaves ``closed`` for
the review and its clock.

Who is "the authority above". The officer directory is a town's: it knows departments only as
the names its officers belong to, not who stands above whom, and a department may have more than
one lawful reviewer (its superior department, or the government at its level, as local rules on
复查复核 put it). So the request names its reviewing body, and the decider checks what it can:
the body is a department of the directory (one of its officers records the request); it is not
the office whose reply is contested (the handling office for a review; the handling office and
the first reviewing body for a second review); and nobody else records the request or any step
of its review (``Step.acting_department``), whoever owns the case. The handling office can
neither review its own opinion nor record another body's review.

A further visit by the same petitioners (重复信访) is recorded on their petition, open or
closed, with its own number of persons: person-visits (人次) are counted per visit.
"""

from datetime import date, datetime
from typing import Any

from events import payloads as p
from events.calendar import add_calendar_days, local_day
from events.errors import Rejection, RejectionCode, reject
from events.lifecycles.shared import (
    CLOSED,
    assignment_step,
    lifecycle,
    reply_before_closing,
)
from events.lifecycles.table import Step
from events.model import CaseType
from events.officers import Role
from events.state import CaseState, Context

CONCLUDED = "concluded"
REQUEST_WINDOW_DAYS = 30
"""信访工作条例 第三十五条、第三十六条: a review, or a second review, is asked within 30 days of
receiving the written reply (a period ending on a rest day runs to the next working day, as every
calendar-day deadline here: 民法典 第二百零三条)."""

_PETITION_STATUSES = {
    "registered": "已登记 / Registered",
    "accepted": "已受理 / Accepted",
    "not_accepted": "不予受理 / Not accepted",
    "assigned": "已转送交办 / Sent to the responsible unit",
    "handled": "办理中 / Being handled",
    "opinion_issued": "已出具处理意见 / Opinion issued",
    "review_requested": "复查中 / Under review by the authority above",
    "reviewed": "已复查 / Review opinion issued",
    "second_review_requested": "复核中 / Under second review",
    "second_review_hearing": "复核听证中 / Second review: hearing under way",
    CLOSED: "已办结 / Closed",
    CONCLUDED: "已复核终结 / Concluded by the second review (final)",
}
_EVERY_STATUS = frozenset({*_PETITION_STATUSES, "suspended"})
_WRITTEN_REPLY_GIVEN = frozenset({"opinion_issued", "reviewed", CLOSED, CONCLUDED})


# --- who reviews ------------------------------------------------------------------------------


def _reviewer(state: CaseState, _: Any) -> str | None:
    """The reviewing body of the review under way; None for a review asked before requests named
    their reviewer (the handling office recorded those, as the old rule had it)."""
    reviewer = state.reviewer_department
    return None if reviewer in (None, p.NOT_NAMED) else reviewer


def _requested_reviewer(_: CaseState, payload: p.ReviewRequest) -> str:
    return payload.reviewing_department


def _reply_issuer(state: CaseState, _: Any) -> str | None:
    """Who issued the latest written reply, and so records when the petitioner received it."""
    issuer = state.reply_department
    return None if issuer in (None, p.NOT_NAMED) else issuer


# --- the rules --------------------------------------------------------------------------------


def _check_receipt(
    state: CaseState, payload: p.ReplyReceipt, ctx: Context, at: datetime
) -> Rejection | None:
    if payload.received_on > local_day(at):
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"received_on {payload.received_on} is after the day this step happened"
            f" ({local_day(at)}): a receipt is recorded once it has happened",
        )
    if payload.received_on < local_day(state.opened_at):
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"received_on {payload.received_on} is before petition {state.case_id} was registered",
        )
    return None


def _request_in_time(state: CaseState, at: datetime, what: str, article: str) -> Rejection | None:
    """A request within REQUEST_WINDOW_DAYS of the receipt of the reply it contests."""
    received = state.reply_received_on
    if received is None:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"{what} on petition {state.case_id} needs the day the petitioner received the"
            " written reply: record it first (petition.record_reply_receipt)",
        )
    last_day: date = add_calendar_days(received, REQUEST_WINDOW_DAYS)
    if local_day(at) > last_day:
        return reject(
            RejectionCode.PERIOD_EXPIRED,
            f"{what} on petition {state.case_id} came on {local_day(at)}: it may be asked within"
            f" {REQUEST_WINDOW_DAYS} days of receiving the reply ({received}), by {last_day}"
            f" ({article})",
        )
    return None


def _final(state: CaseState, what: str) -> Rejection | None:
    if state.status == CONCLUDED:
        return reject(
            RejectionCode.FINAL_STAGE_REACHED,
            f"petition {state.case_id} had its second review (复核): {what} of the same matter is"
            " not accepted again (信访工作条例 第三十六条, 三级终结)",
        )
    return None


def _not_the_contested_body(
    state: CaseState, reviewer: str, contested: tuple[str | None, ...]
) -> Rejection | None:
    # The body is one of the directory's: its own officer records the request.
    if reviewer in contested:
        return reject(
            RejectionCode.WRONG_DEPARTMENT,
            f"{reviewer} issued the reply contested on petition {state.case_id}: a review is made"
            " by the authority above it, not by the office whose reply is contested",
        )
    return None


def _check_review_request(
    state: CaseState, payload: p.ReviewRequest, ctx: Context, at: datetime
) -> Rejection | None:
    if state.review_level >= 1:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"petition {state.case_id} has had its review (复查): a petitioner who contests the"
            " review opinion asks for a second review (petition.request_second_review)",
        )
    return _not_the_contested_body(
        state, payload.reviewing_department, (state.opinion_department,)
    ) or _request_in_time(state, at, "a review", "信访工作条例 第三十五条")


def _explain_review_request(
    state: CaseState, payload: p.ReviewRequest, ctx: Context, at: datetime
) -> Rejection | None:
    if state.status == "reviewed":
        return _check_review_request(state, payload, ctx, at)
    return _final(state, "a review")


def _check_second_review_request(
    state: CaseState, payload: p.ReviewRequest, ctx: Context, at: datetime
) -> Rejection | None:
    if state.review_level != 1:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"a second review (复核) on petition {state.case_id} contests a review opinion (复查):"
            " none was issued",
        )
    contested = (state.opinion_department, state.reviewer_department)
    return _not_the_contested_body(
        state, payload.reviewing_department, contested
    ) or _request_in_time(state, at, "a second review", "信访工作条例 第三十六条")


def _explain_second_review_request(
    state: CaseState, _: Any, ctx: Context, at: datetime
) -> Rejection | None:
    return _final(state, "a second review")


# --- what the steps change --------------------------------------------------------------------


def _opinion_effect(state: CaseState, _: Any) -> dict[str, Any]:
    return {
        "opinion_department": state.owner_department,
        "reply_department": state.owner_department,
        "reply_received_on": None,
    }


def _review_requested_effect(level: int) -> Any:
    def effect(state: CaseState, payload: p.ReviewRequest) -> dict[str, Any]:
        # A review asked after closing opens the case again for the review and its clock.
        return {
            "review_level": level,
            "reviewer_department": payload.reviewing_department,
            "reply_received_on": None,
            "closed_at": None,
        }

    return effect


def _review_decided_effect(state: CaseState, _: Any) -> dict[str, Any]:
    return {"reply_department": state.reviewer_department, "reply_received_on": None}


_REVIEWING_BODY = "the reviewing body the request named"

PETITION = lifecycle(
    CaseType.PETITION,
    "信访 / Petition (letters and visits)",
    Role.OFFICER,
    _PETITION_STATUSES,
    frozenset({"not_accepted", CLOSED, CONCLUDED}),
    (
        Step(
            "petition.register",
            "petition.registered",
            "登记 / Register",
            p.PetitionRegistered,
            frozenset(),
            "registered",
        ),
        Step(
            "petition.accept",
            "petition.accepted",
            "受理 / Accept",
            p.Note,
            frozenset({"registered"}),
            "accepted",
        ),
        Step(
            "petition.not_accept",
            "petition.not_accepted",
            "不予受理 / Not accept (with notice)",
            p.NotAccepted,
            frozenset({"registered"}),
            "not_accepted",
        ),
        assignment_step("petition", "转送/交办 / Send to the responsible unit"),
        Step(
            "petition.handle",
            "petition.handled",
            "办理 / Handle",
            p.Handling,
            frozenset({"accepted", "assigned", "handled"}),
            "handled",
        ),
        Step(
            "petition.issue_opinion",
            "petition.opinion_issued",
            "出具处理意见 / Issue the written opinion",
            p.Opinion,
            frozenset({"handled"}),
            "opinion_issued",
            effect=_opinion_effect,
        ),
        Step(
            "petition.record_reply_receipt",
            "petition.reply_received",
            "信访人签收书面答复 / The petitioner received the written reply",
            p.ReplyReceipt,
            _WRITTEN_REPLY_GIVEN,
            check=_check_receipt,
            effect=lambda s, payload: {"reply_received_on": payload.received_on},
            acting_department=_reply_issuer,
            acting_department_is="the office that issued the reply",
        ),
        Step(
            "petition.request_review",
            "petition.review_requested",
            "申请复查 / Review requested of the authority above",
            p.ReviewRequest,
            frozenset({"opinion_issued", CLOSED}),
            "review_requested",
            owner_only=False,
            check=_check_review_request,
            explain=_explain_review_request,
            effect=_review_requested_effect(1),
            acting_department=_requested_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.decide_review",
            "petition.review_decided",
            "复查意见 / Review opinion issued",
            p.ReviewDecision,
            frozenset({"review_requested"}),
            "reviewed",
            effect=_review_decided_effect,
            acting_department=_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.request_second_review",
            "petition.second_review_requested",
            "申请复核 / Second review requested",
            p.ReviewRequest,
            frozenset({"reviewed", CLOSED}),
            "second_review_requested",
            owner_only=False,
            check=_check_second_review_request,
            explain=_explain_second_review_request,
            effect=_review_requested_effect(2),
            acting_department=_requested_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.schedule_hearing",
            "petition.hearing_scheduled",
            "决定举行复核听证 / Hearing decided (its time does not count)",
            p.Note,
            frozenset({"second_review_requested"}),
            "second_review_hearing",
            acting_department=_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.conclude_hearing",
            "petition.hearing_concluded",
            "复核听证结束 / Hearing concluded",
            p.PetitionHearing,
            frozenset({"second_review_hearing"}),
            "second_review_requested",
            acting_department=_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.decide_second_review",
            "petition.second_review_decided",
            "复核意见（终结） / Second review opinion issued (final)",
            p.ReviewDecision,
            frozenset({"second_review_requested"}),
            CONCLUDED,
            effect=_review_decided_effect,
            acting_department=_reviewer,
            acting_department_is=_REVIEWING_BODY,
        ),
        Step(
            "petition.record_visit",
            "petition.visit_recorded",
            "重复信访 / A further visit by the same petitioners",
            p.RepeatVisit,
            _EVERY_STATUS,
            # Whichever office receives the people records their visit, whoever handles it.
            owner_only=False,
        ),
        Step(
            "petition.close",
            "petition.closed",
            "办结 / Close",
            p.Note,
            frozenset({"opinion_issued", "reviewed"}),
            CLOSED,
            explain=reply_before_closing(
                "petition", frozenset({"accepted", "assigned", "handled"})
            ),
        ),
    ),
    reopen_to="assigned",
    refused=frozenset({"not_accepted"}),
    awaiting=frozenset({"registered"}),
)
