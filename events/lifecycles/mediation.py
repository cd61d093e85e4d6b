"""People's mediations (人民调解): acceptance to agreement, confirmation, follow-up."""

from datetime import datetime

from events import payloads as p
from events.errors import Rejection, RejectionCode, reject
from events.lifecycles.shared import (
    CLOSED,
    lifecycle,
)
from events.lifecycles.table import Step
from events.model import CaseType
from events.officers import Role
from events.state import CaseState, Context


def _check_mediator(
    state: CaseState, payload: p.MediatorAssigned, ctx: Context, _: datetime
) -> Rejection | None:
    mediator = ctx.officers.get(payload.mediator_id)
    if mediator is None or Role.MEDIATOR not in mediator.roles:
        return reject(RejectionCode.INVALID_PAYLOAD, f"{payload.mediator_id} is not a mediator")
    return None


_MEDIATION_STATUSES = {
    "accepted": "已受理 / Accepted",
    "mediator_assigned": "已指定调解员 / Mediator assigned",
    "in_session": "调解中 / In session",
    "agreed": "已达成协议 / Agreement reached",
    "failed": "调解不成 / Failed",
    "judicially_confirmed": "已司法确认 / Judicially confirmed",
    "followed_up": "已回访 / Followed up",
    CLOSED: "已结案 / Closed",
}

MEDIATION = lifecycle(
    CaseType.MEDIATION,
    "人民调解 / People's mediation",
    Role.MEDIATOR,
    _MEDIATION_STATUSES,
    frozenset({CLOSED}),
    (
        Step(
            "mediation.accept",
            "mediation.accepted",
            "受理 / Accept the application",
            p.MediationAccepted,
            frozenset(),
            "accepted",
        ),
        Step(
            "mediation.assign_mediator",
            "mediation.mediator_assigned",
            "指定调解员 / Assign a mediator",
            p.MediatorAssigned,
            frozenset({"accepted", "mediator_assigned"}),
            "mediator_assigned",
            check=_check_mediator,
            effect=lambda s, pl: {"assigned_officer": pl.mediator_id},
        ),
        Step(
            "mediation.hold_session",
            "mediation.session_held",
            "调解 / Hold a session",
            p.Session,
            frozenset({"mediator_assigned", "in_session"}),
            "in_session",
        ),
        Step(
            "mediation.reach_agreement",
            "mediation.agreement_reached",
            "达成协议 / Agreement reached",
            p.Agreement,
            frozenset({"in_session"}),
            "agreed",
        ),
        Step(
            "mediation.record_failure",
            "mediation.failed",
            "调解不成 / Mediation failed",
            p.MediationFailed,
            frozenset({"mediator_assigned", "in_session"}),
            "failed",
        ),
        Step(
            "mediation.confirm_judicially",
            "mediation.judicially_confirmed",
            "司法确认 / Judicial confirmation",
            p.JudicialConfirmation,
            frozenset({"agreed"}),
            "judicially_confirmed",
        ),
        Step(
            "mediation.follow_up",
            "mediation.followed_up",
            "回访 / Follow up performance",
            p.FollowUp,
            frozenset({"agreed", "judicially_confirmed", "followed_up"}),
            "followed_up",
        ),
        Step(
            "mediation.close",
            "mediation.closed",
            "结案 / Close",
            p.Note,
            frozenset({"followed_up", "failed"}),
            CLOSED,
        ),
    ),
)
