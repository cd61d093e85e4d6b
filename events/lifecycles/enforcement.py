"""Administrative enforcement (行政执法 / 行政处罚): from a source to execution and archive."""

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


def _after_legal_review(state: CaseState, payload: p.LegalReview) -> str:
    if not payload.approved:
        return "investigating"
    return "legally_reviewed" if state.status == "reviewed" else state.status


def _hearing_before_decision(
    state: CaseState, payload: p.Decision, ctx: Context, _: datetime
) -> Rejection | None:
    if state.status == "hearing_requested":
        return reject(
            RejectionCode.HEARING_REQUIRED,
            f"the party of case {state.case_id} asked for a hearing: hold it before deciding",
        )
    return None


def _check_decision(
    state: CaseState, payload: p.Decision, ctx: Context, _: datetime
) -> Rejection | None:
    if (payload.major or state.major) and not state.legal_review_approved:
        return reject(
            RejectionCode.LEGAL_REVIEW_REQUIRED,
            f"case {state.case_id}: a major decision needs an approved legal review"
            " (法制审核) first",
        )
    return None


def _check_execution(
    state: CaseState, payload: p.Execution, ctx: Context, _: datetime
) -> Rejection | None:
    if state.penalty_amount_fen > 0 and not payload.bank_receipt:
        return reject(
            RejectionCode.MISSING_FIELD,
            f"payload.bank_receipt: case {state.case_id} has a fine, and fines are paid to the bank"
            " (罚缴分离): give the bank receipt",
        )
    return None


_ENFORCEMENT_STATUSES = {
    "source_registered": "已登记案源 / Source registered",
    "filing_declined": "不予立案 / Filing declined",
    "filed": "已立案 / Filed",
    "investigating": "调查取证中 / Investigating",
    "reviewed": "已审查 / Reviewed",
    "legally_reviewed": "已法制审核 / Legally reviewed",
    "notified": "已告知 / Party notified",
    "hearing_requested": "已申请听证 / Hearing requested",
    "hearing_held": "已听证 / Hearing held",
    "decided": "已决定 / Decided",
    "served": "已送达 / Served",
    "executed": "已执行 / Executed",
    "transferred_out": "已移送 / Transferred out",
    CLOSED: "已结案归档 / Closed and archived",
}
_IN_ORDER = list(_ENFORCEMENT_STATUSES)
_BEFORE_DECISION = frozenset(_IN_ORDER[: _IN_ORDER.index("decided")]) - {"filing_declined"}

ENFORCEMENT = lifecycle(
    CaseType.ENFORCEMENT,
    "行政执法 / Administrative enforcement",
    Role.ENFORCEMENT_OFFICER,
    _ENFORCEMENT_STATUSES,
    frozenset({"filing_declined", CLOSED}),
    refused=frozenset({"filing_declined"}),
    steps=(
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
