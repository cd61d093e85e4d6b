"""Complaints and reports (投诉举报): registration to reply, closing and the follow-up visit.

A complaint may be anonymous (匿名举报): it records no person, so nobody can be replied to, and it
may be closed once investigated without a reply. A named complaint is closed only after its
reply. A follow-up visit (回访) asks the complainant how satisfied they are with the reply: it
needs a reply, and may come after closing.
"""

from datetime import datetime
from typing import Any

from events import payloads as p
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

_COMPLAINT_STATUSES = {
    "registered": "已登记 / Registered",
    "accepted": "已受理 / Accepted",
    "not_accepted": "不予受理 / Not accepted",
    "assigned": "已分派 / Assigned",
    "investigated": "已核查 / Investigated",
    "replied": "已答复 / Replied",
    CLOSED: "已办结 / Closed",
}


def _check_close(state: CaseState, _: Any, ctx: Context, at: datetime) -> Rejection | None:
    if state.status == "investigated" and not state.anonymous:
        return reject(
            RejectionCode.REPLY_REQUIRED,
            f"complaint {state.case_id} cannot be closed before the reply is given"
            " (it is 'investigated'; only an anonymous complaint, with nobody to reply to, is"
            " closed without one)",
        )
    return None


def _check_follow_up(state: CaseState, _: Any, ctx: Context, at: datetime) -> Rejection | None:
    if not state.replied:
        return reject(
            RejectionCode.REPLY_REQUIRED,
            f"complaint {state.case_id} was closed without a reply (anonymous): a follow-up visit"
            " asks the complainant about the reply",
        )
    return None


COMPLAINT = lifecycle(
    CaseType.COMPLAINT,
    "投诉举报 / Complaint or report",
    Role.OFFICER,
    _COMPLAINT_STATUSES,
    frozenset({"not_accepted", CLOSED}),
    (
        Step(
            "complaint.register",
            "complaint.registered",
            "登记 / Register",
            p.ComplaintRegistered,
            frozenset(),
            "registered",
            effect=lambda s, payload: {"anonymous": payload.anonymous},
        ),
        Step(
            "complaint.accept",
            "complaint.accepted",
            "受理 / Accept",
            p.Note,
            frozenset({"registered"}),
            "accepted",
        ),
        Step(
            "complaint.not_accept",
            "complaint.not_accepted",
            "不予受理 / Not accept",
            p.NotAccepted,
            frozenset({"registered"}),
            "not_accepted",
        ),
        assignment_step("complaint", "分派 / Assign to a department"),
        Step(
            "complaint.investigate",
            "complaint.investigated",
            "调查核实 / Investigate",
            p.Investigation,
            frozenset({"assigned", "investigated"}),
            "investigated",
        ),
        Step(
            "complaint.reply",
            "complaint.replied",
            "答复 / Reply to the complainant",
            p.Reply,
            frozenset({"investigated"}),
            "replied",
            effect=lambda s, _: {"replied": True},
        ),
        Step(
            "complaint.close",
            "complaint.closed",
            "办结 / Close",
            p.Note,
            frozenset({"investigated", "replied"}),
            CLOSED,
            check=_check_close,
            explain=reply_before_closing("complaint", frozenset({"accepted", "assigned"})),
        ),
        Step(
            "complaint.follow_up",
            "complaint.followed_up",
            "回访 / Follow-up visit",
            p.ComplaintFollowUp,
            frozenset({"replied", CLOSED}),
            check=_check_follow_up,
            # The visit is often made by the office that registered the complaint (or the
            # hotline), checking on the department that handled it.
            owner_only=False,
        ),
    ),
    reopen_to="accepted",
    refused=frozenset({"not_accepted"}),
    awaiting=frozenset({"registered"}),
)
