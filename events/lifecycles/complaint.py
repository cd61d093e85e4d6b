"""Complaints and reports (投诉举报): registration to reply and closing."""

from events import payloads as p
from events.lifecycles.shared import (
    CLOSED,
    assignment_step,
    lifecycle,
    reply_before_closing,
)
from events.lifecycles.table import Step
from events.model import CaseType
from events.officers import Role

_COMPLAINT_STATUSES = {
    "registered": "已登记 / Registered",
    "accepted": "已受理 / Accepted",
    "not_accepted": "不予受理 / Not accepted",
    "assigned": "已分派 / Assigned",
    "investigated": "已核查 / Investigated",
    "replied": "已答复 / Replied",
    CLOSED: "已办结 / Closed",
}

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
        ),
        Step(
            "complaint.close",
            "complaint.closed",
            "办结 / Close",
            p.Note,
            frozenset({"replied"}),
            CLOSED,
            explain=reply_before_closing(
                "complaint", frozenset({"accepted", "assigned", "investigated"})
            ),
        ),
    ),
    reopen_to="accepted",
    refused=frozenset({"not_accepted"}),
)
