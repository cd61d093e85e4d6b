"""People's mediations (人民调解): application, acceptance or refusal, mediation, agreement,
judicial confirmation and follow-up.

The rules, with their articles (人民调解法, 2010; 人民调解工作若干规定, 司法部 2002):

- A dispute comes by application, or the committee takes it up itself (人民调解法 第十七条); a
  court or the police may send the parties to it before taking the case (第十八条（条文未经核对 /
  article not checked against the text）), and petitions offices do the same by practice (访调对接):
  the referral is recorded with the application or the direct acceptance.
- An application is refused (不予受理) when a party refuses mediation (人民调解法 第十七条: 当事人
  一方明确拒绝调解的，不得调解), when the matter is no dispute between people (第二条), or when the
  law reserves it to a specialised authority or it is already before a court, the police or
  another authority (人民调解工作若干规定 第二十二条); the applicant is told where to turn
  instead (人民调解工作若干规定：不符合受理条件的，告知当事人提请有关机关处理或者向人民法院起诉
  （条文序号未经核对 / article number not checked against the text）).
- After an agreement the parties may apply together for judicial confirmation within 30 days of
  the agreement taking effect (人民调解法 第三十三条), the window clock
  ``mediation.judicial_confirmation``; the committee follows up the agreement's performance
  (第三十一条) and closes the case only after that follow-up, whether the confirmation came
  before or after it.
"""

from datetime import datetime
from typing import Any

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

REFUSED = "refused"
FOLLOWED_UP = "mediation.followed_up"
CONFIRMATION_APPLIED = "mediation.judicial_confirmation_applied"
CONFIRMED = "mediation.judicially_confirmed"

REFUSAL_BASIS: dict[p.RefusalGround, str] = {
    p.RefusalGround.PARTY_REFUSES: "人民调解法 第十七条",
    p.RefusalGround.NOT_A_CIVIL_DISPUTE: "人民调解法 第二条",
    p.RefusalGround.RESERVED_TO_AUTHORITIES: "人民调解工作若干规定 第二十二条第（一）项",
    p.RefusalGround.ALREADY_BEFORE_AUTHORITIES: "人民调解工作若干规定 第二十二条第（二）项",
}
"""The article each ground of refusal rests on."""


def _check_mediator(
    state: CaseState, payload: p.MediatorAssigned, ctx: Context, _: datetime
) -> Rejection | None:
    mediator = ctx.officers.get(payload.mediator_id)
    if mediator is None or Role.MEDIATOR not in mediator.roles:
        return reject(RejectionCode.INVALID_PAYLOAD, f"{payload.mediator_id} is not a mediator")
    return None


def _check_confirmation_application(
    state: CaseState, _: Any, ctx: Context, at: datetime
) -> Rejection | None:
    """The parties apply for confirmation of one agreement once (人民调解法 第三十三条)."""
    for done, what in ((CONFIRMED, "confirmed"), (CONFIRMATION_APPLIED, "applied for")):
        if done in state.recorded:
            return reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"the agreement of mediation {state.case_id} was already {what} judicially",
            )
    return None


def _check_confirmation(state: CaseState, _: Any, ctx: Context, at: datetime) -> Rejection | None:
    if CONFIRMED in state.recorded:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"the agreement of mediation {state.case_id} was already confirmed judicially",
        )
    return None


def _check_follow_up_before_closing(
    state: CaseState, _: Any, ctx: Context, at: datetime
) -> Rejection | None:
    """An agreement is closed only once its performance was followed up (人民调解法 第三十一条)."""
    if state.status != "failed" and FOLLOWED_UP not in state.recorded:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"mediation {state.case_id} cannot be closed before the agreement's performance is"
            " followed up (回访, 人民调解法 第三十一条)",
        )
    return None


_MEDIATION_STATUSES = {
    "applied": "已申请 / Application registered",
    "accepted": "已受理 / Accepted",
    REFUSED: "不予受理 / Not accepted",
    "mediator_assigned": "已指定调解员 / Mediator assigned",
    "in_session": "调解中 / In session",
    "agreed": "已达成协议 / Agreement reached",
    "failed": "调解不成 / Failed",
    "confirmation_applied": "已申请司法确认 / Judicial confirmation applied for",
    "judicially_confirmed": "已司法确认 / Judicially confirmed",
    "followed_up": "已回访 / Followed up",
    CLOSED: "已结案 / Closed",
}

MEDIATION = lifecycle(
    CaseType.MEDIATION,
    "人民调解 / People's mediation",
    Role.MEDIATOR,
    _MEDIATION_STATUSES,
    frozenset({CLOSED, REFUSED}),
    (
        Step(
            "mediation.register_application",
            "mediation.application_registered",
            "登记调解申请 / Register an application",
            p.MediationApplication,
            frozenset(),
            "applied",
        ),
        Step(
            "mediation.accept",
            "mediation.accepted",
            "受理 / Accept the application",
            p.MediationAccepted,
            frozenset(),
            "accepted",
        ),
        Step(
            "mediation.accept_application",
            "mediation.application_accepted",
            "受理申请 / Accept the registered application",
            p.Note,
            frozenset({"applied"}),
            "accepted",
        ),
        Step(
            "mediation.refuse",
            "mediation.refused",
            "不予受理 / Refuse the application",
            p.MediationRefused,
            frozenset({"applied"}),
            REFUSED,
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
            "mediation.record_confirmation_application",
            "mediation.judicial_confirmation_applied",
            "申请司法确认 / The parties applied for judicial confirmation",
            p.ConfirmationApplication,
            frozenset({"agreed", "followed_up"}),
            "confirmation_applied",
            check=_check_confirmation_application,
        ),
        Step(
            "mediation.confirm_judicially",
            "mediation.judicially_confirmed",
            "司法确认 / Judicial confirmation",
            p.JudicialConfirmation,
            frozenset({"agreed", "confirmation_applied", "followed_up"}),
            "judicially_confirmed",
            check=_check_confirmation,
        ),
        Step(
            "mediation.follow_up",
            "mediation.followed_up",
            "回访 / Follow up performance",
            p.FollowUp,
            frozenset({"agreed", "confirmation_applied", "judicially_confirmed", "followed_up"}),
            "followed_up",
        ),
        Step(
            "mediation.close",
            "mediation.closed",
            "结案 / Close",
            p.Note,
            frozenset({"followed_up", "judicially_confirmed", "failed"}),
            CLOSED,
            check=_check_follow_up_before_closing,
        ),
    ),
    refused=frozenset({REFUSED}),
    awaiting=frozenset({"applied"}),
)
