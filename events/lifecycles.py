"""The four lifecycles of DOMAIN.md as data: statuses, steps, who may take them, extra rules.

The steps that apply to any case (transfer, extension, suspension and resumption, supervision
notes, documents, reopening, deadline signals) are written once in ``shared_steps`` and added to
each lifecycle with that lifecycle's statuses.
"""

from datetime import date, datetime
from typing import Any

from events import payloads as p
from events.deadlines import Light
from events.errors import Rejection, RejectionCode
from events.model import CaseType, Frozen
from events.officers import Role
from events.steps import CaseState, Context, Lifecycle, Step

SUSPENDED = "suspended"
CLOSED = "closed"


def _reject(code: RejectionCode, message: str) -> Rejection:
    return Rejection(code=code, message=message)


# --- rules shared by every case type -------------------------------------------------------


def _check_extension(
    state: CaseState, payload: p.Extension, ctx: Context, _: datetime
) -> Rejection | None:
    clock = state.clock(payload.clock)
    if clock is None:
        running = ", ".join(c.rule for c in state.clocks) or "none"
        return _reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"deadline {payload.clock} is not running on case {state.case_id} (running: {running})",
        )
    left = clock.extendable_by - clock.extended_by
    if payload.days > left:
        return _reject(
            RejectionCode.LIMIT_EXCEEDED,
            f"deadline {payload.clock} may be extended by {left} more day(s), not {payload.days}",
        )
    return None


def _signal(clock: str, light: Light, due: date) -> str:
    return f"{clock}:{light}:{due.isoformat()}"


def _signal_check(light: Light) -> Any:
    def check(
        state: CaseState, payload: p.DeadlineSignal, ctx: Context, at: datetime
    ) -> Rejection | None:
        clock = state.clock(payload.clock)
        if clock is None:
            return _reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"deadline {payload.clock} is not running on case {state.case_id}",
            )
        if _signal(payload.clock, light, clock.due_day()) in state.signals:
            return _reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"the {light} light of {payload.clock} is already recorded on case {state.case_id}",
            )
        actual = clock.light(at)
        if actual != light and not (light is Light.YELLOW and actual is Light.RED):
            return _reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"deadline {payload.clock} is {actual} at {at.isoformat()}, not {light}"
                f" (due {clock.due_day().isoformat()})",
            )
        return None

    return check


def _signal_effect(light: Light) -> Any:
    def effect(state: CaseState, payload: p.DeadlineSignal) -> dict[str, Any]:
        clock = state.clock(payload.clock)
        assert clock is not None
        return {"signals": state.signals | {_signal(payload.clock, light, clock.due_day())}}

    return effect


def _unknown_department(department: str, ctx: Context) -> Rejection | None:
    if any(officer.department == department for officer in ctx.officers.values()):
        return None
    return _reject(
        RejectionCode.INVALID_PAYLOAD,
        f"unknown department {department}: no officer of the directory belongs to it",
    )


def _check_transfer(
    state: CaseState, payload: p.Transfer, ctx: Context, _: datetime
) -> Rejection | None:
    if payload.to_department == state.owner_department:
        return _reject(
            RejectionCode.INVALID_PAYLOAD,
            f"case {state.case_id} is already owned by {payload.to_department}",
        )
    return _unknown_department(payload.to_department, ctx)


def _check_assignment(
    state: CaseState, payload: p.Assignment, ctx: Context, _: datetime
) -> Rejection | None:
    unknown = _unknown_department(payload.department, ctx)
    if unknown is not None or payload.officer_id is None:
        return unknown
    officer = ctx.officers.get(payload.officer_id)
    if officer is None or officer.department != payload.department:
        return _reject(
            RejectionCode.INVALID_PAYLOAD,
            f"officer {payload.officer_id} is not an officer of {payload.department}",
        )
    return None


def _check_mediator(
    state: CaseState, payload: p.MediatorAssigned, ctx: Context, _: datetime
) -> Rejection | None:
    mediator = ctx.officers.get(payload.mediator_id)
    if mediator is None or Role.MEDIATOR not in mediator.roles:
        return _reject(RejectionCode.INVALID_PAYLOAD, f"{payload.mediator_id} is not a mediator")
    return None


def _transfer_effect(state: CaseState, payload: p.Transfer) -> dict[str, Any]:
    return {"owner_department": payload.to_department, "assigned_officer": None}


def _assign_effect(state: CaseState, payload: p.Assignment) -> dict[str, Any]:
    return {"owner_department": payload.department, "assigned_officer": payload.officer_id}


def _resume_status(state: CaseState, _: Any) -> str:
    assert state.suspended_from is not None
    return state.suspended_from


def shared_steps(
    statuses: tuple[str, ...], terminal: frozenset[str], reopen_to: str | None
) -> tuple[Step, ...]:
    open_ = frozenset(statuses) - terminal - {SUSPENDED}
    everything = frozenset(statuses)
    steps = [
        Step(
            "case.transfer",
            "case.transferred",
            "转办 / Transfer to another department",
            p.Transfer,
            open_,
            check=_check_transfer,
            effect=_transfer_effect,
        ),
        Step(
            "case.extend",
            "case.deadline_extended",
            "延期 / Extend a deadline",
            p.Extension,
            open_,
            check=_check_extension,
        ),
        Step(
            "case.suspend",
            "case.suspended",
            "中止 / Suspend",
            p.Reason,
            open_,
            SUSPENDED,
            effect=lambda s, _: {"suspended_from": s.status},
        ),
        Step(
            "case.resume",
            "case.resumed",
            "恢复 / Resume",
            p.Note,
            frozenset({SUSPENDED}),
            _resume_status,
            effect=lambda s, _: {"suspended_from": None},
        ),
        Step(
            "case.note_supervision",
            "case.supervision_noted",
            "督办 / Supervision note",
            p.SupervisionNote,
            everything,
            roles=frozenset({Role.SUPERVISOR}),
            owner_only=False,
        ),
        Step(
            "case.attach_document",
            "case.document_attached",
            "附件 / Attach a document",
            p.Document,
            everything - terminal,
        ),
        Step(
            "case.record_deadline_warning",
            "case.deadline_warning_recorded",
            "黄灯预警 / Deadline warning",
            p.DeadlineSignal,
            everything - terminal,
            roles=frozenset({Role.SYSTEM}),
            owner_only=False,
            check=_signal_check(Light.YELLOW),
            effect=_signal_effect(Light.YELLOW),
        ),
        Step(
            "case.record_deadline_breach",
            "case.deadline_breached",
            "红灯警示 / Deadline breached",
            p.DeadlineSignal,
            everything - terminal,
            roles=frozenset({Role.SYSTEM}),
            owner_only=False,
            check=_signal_check(Light.RED),
            effect=_signal_effect(Light.RED),
        ),
    ]
    if reopen_to is not None:
        steps.append(
            Step(
                "case.reopen",
                "case.reopened",
                "重新办理 / Reopen",
                p.Reason,
                frozenset({CLOSED}),
                reopen_to,
                effect=lambda s, _: {"closed_at": None},
            )
        )
    return tuple(steps)


def lifecycle(
    case_type: CaseType,
    title: str,
    working_role: Role,
    statuses: tuple[str, ...],
    terminal: frozenset[str],
    steps: tuple[Step, ...],
    reopen_to: str | None = None,
) -> Lifecycle:
    return Lifecycle(
        case_type=case_type,
        title=title,
        working_role=working_role,
        needs_certificate=working_role is Role.ENFORCEMENT_OFFICER,
        statuses=(*statuses, SUSPENDED),
        terminal=terminal,
        steps=steps + shared_steps((*statuses, SUSPENDED), terminal, reopen_to),
    )


def _reply_before_closing(kind: str, before_reply: frozenset[str]) -> Any:
    def explain(state: CaseState, _: Any, ctx: Context, at: datetime) -> Rejection | None:
        if state.status in before_reply:
            return _reject(
                RejectionCode.REPLY_REQUIRED,
                f"{kind} {state.case_id} cannot be closed before the reply is given"
                f" (it is '{state.status}')",
            )
        return None

    return explain


# --- complaints (投诉举报) -------------------------------------------------------------------

_COMPLAINT_STATUSES = (
    "registered",
    "accepted",
    "not_accepted",
    "assigned",
    "investigated",
    "replied",
    CLOSED,
)

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
        Step(
            "complaint.assign",
            "complaint.assigned",
            "分派 / Assign to a department",
            p.Assignment,
            frozenset({"accepted", "assigned"}),
            "assigned",
            check=_check_assignment,
            effect=_assign_effect,
        ),
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
            explain=_reply_before_closing(
                "complaint", frozenset({"accepted", "assigned", "investigated"})
            ),
        ),
    ),
    reopen_to="accepted",
)

# --- petitions (信访) ------------------------------------------------------------------------

_PETITION_STATUSES = (
    "registered",
    "accepted",
    "not_accepted",
    "assigned",
    "handled",
    "opinion_issued",
    "review_requested",
    "reviewed",
    CLOSED,
)

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
        Step(
            "petition.assign",
            "petition.assigned",
            "转送/交办 / Send to the responsible unit",
            p.Assignment,
            frozenset({"accepted", "assigned"}),
            "assigned",
            check=_check_assignment,
            effect=_assign_effect,
        ),
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
            explain=_reply_before_closing(
                "petition", frozenset({"accepted", "assigned", "handled"})
            ),
        ),
    ),
    reopen_to="assigned",
)

# --- mediations (人民调解) -------------------------------------------------------------------

_MEDIATION_STATUSES = (
    "accepted",
    "mediator_assigned",
    "in_session",
    "agreed",
    "failed",
    "judicially_confirmed",
    "followed_up",
    CLOSED,
)

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

# --- enforcement (行政执法 / 行政处罚) --------------------------------------------------------


def _after_legal_review(state: CaseState, payload: p.LegalReview) -> str:
    if not payload.approved:
        return "investigating"
    return "legally_reviewed" if state.status == "reviewed" else state.status


def _hearing_before_decision(
    state: CaseState, payload: p.Decision, ctx: Context, _: datetime
) -> Rejection | None:
    if state.status == "hearing_requested":
        return _reject(
            RejectionCode.HEARING_REQUIRED,
            f"the party of case {state.case_id} asked for a hearing: hold it before deciding",
        )
    return None


def _check_decision(
    state: CaseState, payload: p.Decision, ctx: Context, _: datetime
) -> Rejection | None:
    if (payload.major or state.major) and not state.legal_review_approved:
        return _reject(
            RejectionCode.LEGAL_REVIEW_REQUIRED,
            f"case {state.case_id}: a major decision needs an approved legal review"
            " (法制审核) first",
        )
    return None


def _check_execution(
    state: CaseState, payload: p.Execution, ctx: Context, _: datetime
) -> Rejection | None:
    if state.penalty_amount_fen > 0 and not payload.bank_receipt:
        return _reject(
            RejectionCode.MISSING_FIELD,
            f"payload.bank_receipt: case {state.case_id} has a fine, and fines are paid to the bank"
            " (罚缴分离): give the bank receipt",
        )
    return None


_ENFORCEMENT_STATUSES = (
    "source_registered",
    "filing_declined",
    "filed",
    "investigating",
    "reviewed",
    "legally_reviewed",
    "notified",
    "hearing_requested",
    "hearing_held",
    "decided",
    "served",
    "executed",
    "transferred_out",
    CLOSED,
)
_BEFORE_DECISION = frozenset(
    {
        "source_registered",
        "filed",
        "investigating",
        "reviewed",
        "legally_reviewed",
        "notified",
        "hearing_requested",
        "hearing_held",
    }
)

ENFORCEMENT = lifecycle(
    CaseType.ENFORCEMENT,
    "行政执法 / Administrative enforcement",
    Role.ENFORCEMENT_OFFICER,
    _ENFORCEMENT_STATUSES,
    frozenset({"filing_declined", CLOSED}),
    (
        Step(
            "enforcement.register_source",
            "enforcement.source_registered",
            "案源登记 / Register the case source",
            p.SourceRegistered,
            frozenset(),
            "source_registered",
        ),
        Step(
            "enforcement.decline_filing",
            "enforcement.filing_declined",
            "不予立案 / Decline to file",
            p.NotAccepted,
            frozenset({"source_registered"}),
            "filing_declined",
        ),
        Step(
            "enforcement.file",
            "enforcement.filed",
            "立案 / File the case",
            p.Filing,
            frozenset({"source_registered"}),
            "filed",
        ),
        Step(
            "enforcement.collect_evidence",
            "enforcement.evidence_collected",
            "调查取证 / Collect evidence",
            p.Evidence,
            frozenset({"filed", "investigating"}),
            "investigating",
        ),
        Step(
            "enforcement.review",
            "enforcement.reviewed",
            "审查 / Review",
            p.CaseReview,
            frozenset({"investigating"}),
            "reviewed",
            # Once a review finds the decision major it stays major: a later review cannot
            # talk a refused legal review away.
            effect=lambda s, pl: {"major": s.major or pl.major},
        ),
        Step(
            "enforcement.record_legal_review",
            "enforcement.legal_review_recorded",
            "法制审核 / Legal review",
            p.LegalReview,
            # Also after the notice or the hearing: a decision found major only then must not
            # be stuck without the review it needs.
            frozenset({"reviewed", "notified", "hearing_held"}),
            _after_legal_review,
            roles=frozenset({Role.LEGAL_REVIEWER}),
            owner_only=False,
            effect=lambda s, pl: {"legal_review_approved": pl.approved},
            leads_to=("legally_reviewed", "(unchanged)", "investigating"),
        ),
        Step(
            "enforcement.notify_party",
            "enforcement.party_notified",
            "告知 / Notify the party",
            p.Notice,
            frozenset({"reviewed", "legally_reviewed"}),
            "notified",
        ),
        Step(
            "enforcement.request_hearing",
            "enforcement.hearing_requested",
            "申请听证 / Hearing requested",
            p.Note,
            frozenset({"notified"}),
            "hearing_requested",
        ),
        Step(
            "enforcement.hold_hearing",
            "enforcement.hearing_held",
            "听证 / Hold the hearing",
            p.Hearing,
            frozenset({"hearing_requested"}),
            "hearing_held",
        ),
        Step(
            "enforcement.decide",
            "enforcement.decision_made",
            "决定 / Decide",
            p.Decision,
            frozenset({"notified", "hearing_held"}),
            "decided",
            check=_check_decision,
            explain=_hearing_before_decision,
            effect=lambda s, pl: {
                "penalty_amount_fen": pl.penalty.amount_fen,
                "major": s.major or pl.major,
            },
        ),
        Step(
            "enforcement.serve_decision",
            "enforcement.decision_served",
            "送达 / Serve the decision",
            p.Service,
            frozenset({"decided"}),
            "served",
        ),
        Step(
            "enforcement.execute",
            "enforcement.executed",
            "执行 / Execute",
            p.Execution,
            frozenset({"served"}),
            "executed",
            check=_check_execution,
        ),
        Step(
            "enforcement.transfer_case",
            "enforcement.case_transferred",
            "案件移送 / Transfer to another authority",
            p.CaseTransfer,
            _BEFORE_DECISION,
            "transferred_out",
        ),
        Step(
            "enforcement.close",
            "enforcement.closed",
            "结案归档 / Close and archive",
            p.Note,
            frozenset({"executed", "transferred_out"}),
            CLOSED,
        ),
    ),
)

LIFECYCLES: dict[CaseType, Lifecycle] = {
    lc.case_type: lc for lc in (COMPLAINT, PETITION, MEDIATION, ENFORCEMENT)
}
OPENING_STEPS: dict[str, tuple[Lifecycle, Step]] = {
    step.submission: (lc, step)
    for lc in LIFECYCLES.values()
    for step in lc.steps
    if step.opens_case
}
SUBMISSION_PAYLOADS: dict[str, type[Frozen]] = {
    step.submission: step.payload for lc in LIFECYCLES.values() for step in lc.steps
}
EVENT_PAYLOADS: dict[str, type[Frozen]] = {
    step.event: step.payload for lc in LIFECYCLES.values() for step in lc.steps
}
