"""Petitions (信访): registration, acceptance, handling, opinion, review."""

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

_PETITION_STATUSES = {
    "registered": "已登记 / Registered",
    "accepted": "已受理 / Accepted",
    "not_accepted": "不予受理 / Not accepted",
    "assigned": "已转送交办 / Sent to the responsible unit",
    "handled": "办理中 / Being handled",
    "opinion_issued": "已出具处理意见 / Opinion issued",
    "review_requested": "已申请复查 / Review requested",
    "reviewed": "已复查 / Reviewed",
    CLOSED: "已办结 / Closed",
}

PETITION = lifecycle(
    CaseType.PETITION,
    "信访 / Petition (letters and visits)",
    Role.OFFICER,
    _PETITION_STATUSES,
    frozenset({"not_accepted", CLOSED}),
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
        ),
        Step(
            "petition.request_review",
            "petition.review_requested",
            "申请复查 / Review requested",
            p.Reason,
            frozenset({"opinion_issued"}),
            "review_requested",
        ),
        Step(
            "petition.decide_review",
            "petition.review_decided",
            "复查决定 / Review decided",
            p.ReviewDecision,
            frozenset({"review_requested"}),
            "reviewed",
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
)
