"""Administrative enforcement (行政执法 / 行政处罚): from a source to a lawful conclusion.

The law behind the rules (行政处罚法 as revised in 2021 unless another law is named):

- two officers with certificates valid that day on every investigative act: the evidence
  collected and samples sent for testing name the officer(s) present besides the actor
  (第四十二条; 第五十五条, article not checked against the text);
- testing, inspection, quarantine and appraisal (检测、检验、检疫、鉴定) stop the filing and the
  decision clocks (市场监督管理行政处罚程序规定 第十八条第二款; 第六十四条, its number not checked
  against the text), and the case waits for
  the result before it is filed, declined or reviewed;
- after the notice of the intended penalty (告知, 第四十四条) the party may state their case and
  defend it (陈述、申辩, 第四十五条) and ask for a hearing within five days (第六十四条第一项): a
  decision inside that window needs their statement or express waiver (第六十二条, article not
  checked against the text), and a
  decision may not be heavier than the notice (第四十五条第二款);
- a penalty in a major or complex case needs the department heads' collective discussion
  (集体讨论, 第五十七条第二款); "major" is the flag that already requires the legal review
  (法制审核, 第五十八条, article not checked against the text), "complex" the review's own
  finding (情节复杂);
- a decision not to penalise (不予行政处罚, 第三十条、第三十一条、第三十三条、第三十六条,
  第五十七条第一款第二、三项) is served and closes the case without execution;
- a penalty decision is served within seven days (第六十一条), published (公示, 第四十八条;
  市场监督管理行政处罚信息公示规定 第九条) and performed: a fine within fifteen days of service
  (第六十七条第三款); unpaid, the office demands payment with the late-payment fine (催告,
  行政强制法 第三十五条、第五十四条; 加处罚款, 第七十二条第一款第一项), records that the periods
  for review and suit ended without either (行政诉讼法 第四十六条: six months), applies to the
  court within three months of that (行政强制法 第五十三条, 第五十四条: ten days after the demand)
  and may close the case once the court has accepted the application: the court's ruling and
  enforcement are the court's record, not the office's.
"""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from events import payloads as p
from events.calendar import add_calendar_days, local_day
from events.deadlines import add_calendar_months
from events.errors import Rejection, RejectionCode, reject
from events.lifecycles.shared import (
    CLOSED,
    lifecycle,
)
from events.lifecycles.table import Check, Step
from events.model import CaseType
from events.officers import Role
from events.state import CaseState, Context

STATEMENT_WINDOW_DAYS = 5
"""行政处罚法 第六十四条第一项: a hearing is asked for within five days of the notice. The law
names no other period for the statement and defence, so the decision waits for the same one."""
DEMAND_WAIT_DAYS = 10
"""行政强制法 第五十四条: the court may be asked ten days after the demand (催告书) was served."""
APPEAL_MONTHS = 6
"""行政诉讼法 第四十六条: six months to sue (the sixty days for review, 行政复议, end sooner)."""
LATE_FINE_PERCENT_A_DAY = 3
"""行政处罚法 第七十二条第一款第一项: 3% of the fine a day, never more than the fine."""
PAYMENT_DAYS = 15
"""行政处罚法 第六十七条第三款, used when no payment clock runs (a deployment without one)."""


def _first(*checks: Check) -> Check:
    """The rules of a step in order: the first that refuses answers."""

    def check(state: CaseState, payload: Any, ctx: Context, at: datetime) -> Rejection | None:
        for rule in checks:
            refused = rule(state, payload, ctx, at)
            if refused is not None:
                return refused
        return None

    return check


# --- who is present -----------------------------------------------------------------------


def _two_officers(
    state: CaseState, payload: p.Evidence | p.ExpertReferral, ctx: Context, at: datetime
) -> Rejection | None:
    ids = [officer.officer_id for officer in payload.officers]
    twice = sorted({officer_id for officer_id in ids if ids.count(officer_id) > 1})
    if twice:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.officers names {', '.join(twice)} twice: name each officer present once",
        )
    day = local_day(at)
    actor = ctx.actor.officer_id if ctx.actor is not None else None
    wrong: list[str] = []
    for named in payload.officers:
        officer = ctx.officers.get(named.officer_id)
        if named.officer_id == actor:
            wrong.append(f"{named.officer_id} records the step and counts already")
        elif officer is None:
            wrong.append(f"unknown officer {named.officer_id}")
        elif officer.department != state.owner_department:
            wrong.append(f"{named.officer_id} is not an officer of {state.owner_department}")
        elif (
            Role.ENFORCEMENT_OFFICER not in officer.roles
            or officer.certificate is None
            or not officer.certificate.valid_on(day)
        ):
            wrong.append(f"{named.officer_id} holds no enforcement certificate valid on {day}")
        elif officer.certificate.number != named.certificate:
            wrong.append(
                f"{named.officer_id}'s certificate is {officer.certificate.number},"
                f" not {named.certificate}"
            )
    if wrong or not payload.officers:
        problem = "; ".join(wrong) if wrong else "nobody else is named"
        return reject(
            RejectionCode.TWO_OFFICERS_REQUIRED,
            f"case {state.case_id}: an investigative act needs at least two enforcement officers"
            f" with certificates valid that day (行政处罚法 第四十二条；第五十五条条文未经核对);"
            f" name the other officer(s) present in payload.officers: {problem}",
        )
    return None


# --- testing and appraisal ----------------------------------------------------------------


def _no_testing_running(what: str) -> Check:
    def check(state: CaseState, payload: Any, ctx: Context, at: datetime) -> Rejection | None:
        if state.testing_since is None:
            return None
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"case {state.case_id}: testing or appraisal started on"
            f" {local_day(state.testing_since)} is still running; record its result"
            f" (enforcement.finish_testing) before {what}",
        )

    return check


def _testing_running(
    state: CaseState, payload: p.ExpertResult, ctx: Context, at: datetime
) -> Rejection | None:
    if state.testing_since is not None:
        return None
    return reject(
        RejectionCode.ILLEGAL_TRANSITION,
        f"case {state.case_id}: no testing or appraisal is running",
    )


# --- the party's statement and the notice's window ----------------------------------------


def _window_end(notified_at: datetime) -> date:
    return add_calendar_days(local_day(notified_at), STATEMENT_WINDOW_DAYS)


def _statement_or_waiver(
    state: CaseState, payload: p.Statement, ctx: Context, at: datetime
) -> Rejection | None:
    if payload.waived or (payload.statement.strip() and payload.review.strip()):
        return None
    return reject(
        RejectionCode.MISSING_FIELD,
        "payload.statement, payload.review: record what the party stated and the office's"
        " review of it (复核, 行政处罚法 第四十五条), or waived: true for an express waiver",
    )


def _hearing_within_window(
    state: CaseState, payload: p.Note, ctx: Context, at: datetime
) -> Rejection | None:
    if state.notified_at is None:
        return None
    end = _window_end(state.notified_at)
    if local_day(at) <= end:
        return None
    return reject(
        RejectionCode.PERIOD_EXPIRED,
        f"case {state.case_id}: the party was notified on {local_day(state.notified_at)}; a"
        f" hearing had to be asked for by {end} (行政处罚法 第六十四条第一项: within five days)",
    )


def _party_heard(state: CaseState, at: datetime) -> Rejection | None:
    """Deciding from 'notified': the window has passed, or the party stated or waived."""
    if state.notified_at is None or state.statement_given or state.statement_waived:
        return None
    end = _window_end(state.notified_at)
    if local_day(at) > end:
        return None
    return reject(
        RejectionCode.PERIOD_NOT_OVER,
        f"case {state.case_id}: the party was notified on {local_day(state.notified_at)} and"
        f" may state their case and defend it (陈述、申辩) and ask for a hearing (听证) until"
        f" {end} (行政处罚法 第四十五条、第六十四条；第六十二条条文未经核对); record their"
        f" statement or express waiver (enforcement.record_statement), or decide after {end}",
    )


def _notice_effect(state: CaseState, payload: p.Notice) -> dict[str, Any]:
    # A new notice opens a new window: what the party said, and what the heads discussed,
    # answered the old one.
    return {
        "noticed_amount_fen": payload.intended_penalty.amount_fen,
        "statement_given": False,
        "statement_waived": False,
        "collective_discussion": False,
    }


# --- the decision -------------------------------------------------------------------------


def _after_legal_review(state: CaseState, payload: p.LegalReview) -> str:
    if not payload.approved:
        return "investigating"
    return "legally_reviewed" if state.status == "reviewed" else state.status


def _hearing_before_decision(
    state: CaseState, payload: Any, ctx: Context, _: datetime
) -> Rejection | None:
    if state.status == "hearing_requested":
        return reject(
            RejectionCode.HEARING_REQUIRED,
            f"the party of case {state.case_id} asked for a hearing: hold it before deciding",
        )
    return None


def _legal_review(state: CaseState, major: bool) -> Rejection | None:
    if (major or state.major) and not state.legal_review_approved:
        return reject(
            RejectionCode.LEGAL_REVIEW_REQUIRED,
            f"case {state.case_id}: a major decision needs an approved legal review"
            " (法制审核) first",
        )
    return None


def _check_decision(
    state: CaseState, payload: p.Decision, ctx: Context, at: datetime
) -> Rejection | None:
    refused = _legal_review(state, payload.major)
    if refused is not None:
        return refused
    if (payload.major or state.major or state.complex) and not state.collective_discussion:
        kind = "complex" if state.complex and not (payload.major or state.major) else "major"
        return reject(
            RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED,
            f"case {state.case_id} is {kind}: the department heads decide its penalty by"
            " collective discussion (集体讨论, 行政处罚法 第五十七条第二款) after the party was"
            " notified; record it (enforcement.hold_collective_discussion) first",
        )
    if state.status == "notified":
        refused = _party_heard(state, at)
        if refused is not None:
            return refused
    noticed = state.noticed_amount_fen
    if noticed is not None and payload.penalty.amount_fen > noticed:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.penalty.amount_fen {payload.penalty.amount_fen} is more than the {noticed}"
            f" the notice intended for case {state.case_id}: a heavier penalty needs a new notice"
            " (行政处罚法 第四十四条), and a statement never makes it heavier (第四十五条第二款)",
        )
    return None


def _decision_effect(state: CaseState, payload: p.Decision) -> dict[str, Any]:
    return {
        "penalty_amount_fen": payload.penalty.amount_fen,
        "major": state.major or payload.major,
        "penalty_decided": True,
    }


def _check_no_penalty(
    state: CaseState, payload: p.NoPenaltyDecision, ctx: Context, at: datetime
) -> Rejection | None:
    refused = _legal_review(state, False)
    if refused is not None:
        return refused
    if payload.ground in p.EDUCATION_REQUIRED and not payload.education.strip():
        return reject(
            RejectionCode.MISSING_FIELD,
            f"payload.education: a party not penalised on the ground {payload.ground} is"
            " educated (行政处罚法 第三十三条第三款): say how",
        )
    return None


def _check_collective_extension(
    state: CaseState, payload: p.FurtherExtension, ctx: Context, at: datetime
) -> Rejection | None:
    clock = state.clock("enforcement.decision")
    if clock is None:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"deadline enforcement.decision is not running on case {state.case_id}",
        )
    left = clock.extendable_by - clock.extended_by
    if left > 0:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"case {state.case_id}: the head may still extend enforcement.decision by {left}"
            " day(s) (case.extend); the heads decide a further extension only when that is not"
            " enough (市场监督管理行政处罚程序规定 第六十四条，条号未经核对)",
        )
    return None


# --- after the decision: publication, payment, the unpaid fine ----------------------------


def _check_publication(
    state: CaseState, payload: p.Publication, ctx: Context, at: datetime
) -> Rejection | None:
    if state.published:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"the publication of case {state.case_id}'s decision is already recorded",
        )
    if payload.published and not payload.channel.strip():
        return reject(RejectionCode.MISSING_FIELD, "payload.channel: say where it is published")
    if not payload.published and not payload.reason.strip():
        return reject(
            RejectionCode.MISSING_FIELD, "payload.reason: say why the decision is not published"
        )
    return None


def _payment_due(state: CaseState) -> date | None:
    clock = state.clock("enforcement.payment")
    if clock is not None:
        return clock.due_day()
    if state.served_at is None:
        return None
    return add_calendar_days(local_day(state.served_at), PAYMENT_DAYS)


def _check_demand(
    state: CaseState, payload: p.PaymentDemand, ctx: Context, at: datetime
) -> Rejection | None:
    fine = state.penalty_amount_fen
    if fine <= 0:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"case {state.case_id}'s decision imposes no fine: there is nothing to demand",
        )
    due, day = _payment_due(state), local_day(at)
    if due is not None and day <= due:
        return reject(
            RejectionCode.PERIOD_NOT_OVER,
            f"case {state.case_id}: the fine may be paid until {due} (行政处罚法 第六十七条第三款:"
            " within fifteen days of service); demand payment after that",
        )
    overdue = (day - due).days if due is not None else 0
    most = min(fine, fine * LATE_FINE_PERCENT_A_DAY * overdue // 100)
    if payload.late_fine_fen > most:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.late_fine_fen {payload.late_fine_fen}: {overdue} day(s) overdue at 3% of"
            f" the fine {fine} a day, never more than the fine, is at most {most}"
            " (行政处罚法 第七十二条第一款第一项)",
        )
    if payload.perform_by <= day:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.perform_by {payload.perform_by} must come after the demand ({day}):"
            " the demand names a period to perform (行政强制法 第三十五条)",
        )
    return None


def _check_no_appeal(
    state: CaseState, payload: p.NoAppeal, ctx: Context, at: datetime
) -> Rejection | None:
    if state.appeal_period_over_at is not None:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"case {state.case_id}: already recorded on {local_day(state.appeal_period_over_at)}",
        )
    if state.served_at is None:
        return None
    end = add_calendar_months(local_day(state.served_at), APPEAL_MONTHS)
    if local_day(at) > end:
        return None
    return reject(
        RejectionCode.PERIOD_NOT_OVER,
        f"case {state.case_id}: the decision was served on {local_day(state.served_at)} and the"
        f" party may sue until {end} (行政诉讼法 第四十六条: six months); record this after that",
    )


def _check_court_application(
    state: CaseState, payload: p.CourtApplication, ctx: Context, at: datetime
) -> Rejection | None:
    if state.appeal_period_over_at is None:
        return reject(
            RejectionCode.PERIOD_NOT_OVER,
            f"case {state.case_id}: the court is asked once the periods for review and suit"
            " ended without either (行政强制法 第五十三条): record that first"
            " (enforcement.record_no_appeal)",
        )
    if state.demanded_at is not None:
        end = add_calendar_days(local_day(state.demanded_at), DEMAND_WAIT_DAYS)
        if local_day(at) <= end:
            return reject(
                RejectionCode.PERIOD_NOT_OVER,
                f"case {state.case_id}: the demand was served on {local_day(state.demanded_at)};"
                f" the court may be asked ten days after it, from the day after {end}"
                " (行政强制法 第五十四条)",
            )
    most = state.penalty_amount_fen + state.late_fine_fen
    if payload.amount_fen > most:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"payload.amount_fen {payload.amount_fen} is more than the fine and the late-payment"
            f" fine the demand named ({most})",
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


def _check_close(state: CaseState, payload: p.Note, ctx: Context, at: datetime) -> Rejection | None:
    if state.penalty_decided and not state.published:
        return reject(
            RejectionCode.PUBLICATION_REQUIRED,
            f"case {state.case_id}: record the decision's publication (公示, 行政处罚法 第四十八条)"
            " or why it is not published (enforcement.publish_decision) before closing",
        )
    return None


def _set(**fields: Any) -> Callable[[CaseState, Any], dict[str, Any]]:
    return lambda _state, _payload: dict(fields)


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
    "decided": "已作出处罚决定 / Penalty decided",
    "no_penalty_decided": "已决定不予处罚 / Decided not to penalise",
    "served": "处罚决定已送达 / Decision served",
    "no_penalty_served": "不予处罚决定已送达 / No-penalty decision served",
    "payment_demanded": "已催告 / Payment demanded",
    "court_applied": "已申请法院强制执行 / Court enforcement applied for",
    "court_accepted": "法院已受理强制执行 / Court enforcement accepted",
    "executed": "已执行 / Executed",
    "transferred_out": "已移送 / Transferred out",
    CLOSED: "已结案归档 / Closed and archived",
}
_IN_ORDER = list(_ENFORCEMENT_STATUSES)
_BEFORE_DECISION = frozenset(_IN_ORDER[: _IN_ORDER.index("decided")]) - {"filing_declined"}
_BEFORE_FILING = frozenset({"source_registered"})
_INVESTIGATION = frozenset({"source_registered", "filed", "investigating"})
_AFTER_PENALTY = frozenset(
    {"decided", "served", "payment_demanded", "court_applied", "court_accepted", "executed"}
)
_PARTY_HEARD = frozenset({"notified", "hearing_held"})
_DECIDABLE = frozenset({"reviewed", "legally_reviewed", "notified", "hearing_held"})

ENFORCEMENT = lifecycle(
    CaseType.ENFORCEMENT,
    "行政执法 / Administrative enforcement",
    Role.ENFORCEMENT_OFFICER,
    _ENFORCEMENT_STATUSES,
    frozenset({"filing_declined", CLOSED}),
    refused=frozenset({"filing_declined"}),
    awaiting=frozenset({"source_registered"}),
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
            _BEFORE_FILING,
            "filing_declined",
            check=_no_testing_running("declining to file"),
        ),
        Step(
            "enforcement.file",
            "enforcement.filed",
            "立案 / File the case",
            p.Filing,
            _BEFORE_FILING,
            "filed",
            check=_no_testing_running("filing"),
        ),
        Step(
            "enforcement.collect_evidence",
            "enforcement.evidence_collected",
            "调查取证 / Collect evidence",
            p.Evidence,
            frozenset({"filed", "investigating"}),
            "investigating",
            check=_two_officers,
        ),
        Step(
            "enforcement.start_testing",
            "enforcement.testing_started",
            "抽样送检、委托鉴定 / Send for testing or appraisal",
            p.ExpertReferral,
            _INVESTIGATION,
            check=_first(_no_testing_running("sending more"), _two_officers),
            stamps="testing_since",
        ),
        Step(
            "enforcement.finish_testing",
            "enforcement.testing_finished",
            "检测、鉴定结果 / Testing or appraisal result",
            p.ExpertResult,
            _INVESTIGATION,
            check=_testing_running,
            effect=_set(testing_since=None),
        ),
        Step(
            "enforcement.review",
            "enforcement.reviewed",
            "审查 / Review",
            p.CaseReview,
            frozenset({"investigating"}),
            "reviewed",
            check=_no_testing_running("the review"),
            # Once a review finds the decision major it stays major: a later review cannot
            # talk a refused legal review away. The same holds for complex.
            effect=lambda s, pl: {"major": s.major or pl.major, "complex": s.complex or pl.complex},
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
            # Again after the party was heard: a heavier penalty than noticed needs a new notice.
            frozenset({"reviewed", "legally_reviewed", *_PARTY_HEARD}),
            "notified",
            effect=_notice_effect,
            stamps="notified_at",
        ),
        Step(
            "enforcement.record_statement",
            "enforcement.statement_recorded",
            "陈述申辩 / The party's statement and defence",
            p.Statement,
            frozenset({"notified"}),
            check=_statement_or_waiver,
            effect=lambda s, pl: {
                "statement_given": s.statement_given or not pl.waived,
                "statement_waived": s.statement_waived or pl.waived,
            },
        ),
        Step(
            "enforcement.request_hearing",
            "enforcement.hearing_requested",
            "申请听证 / Hearing requested",
            p.Note,
            frozenset({"notified"}),
            "hearing_requested",
            check=_hearing_within_window,
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
            "enforcement.hold_collective_discussion",
            "enforcement.collective_discussion_held",
            "负责人集体讨论 / Collective discussion by the department heads",
            p.CollectiveDiscussion,
            _PARTY_HEARD,
            effect=_set(collective_discussion=True),
        ),
        Step(
            "enforcement.decide_further_extension",
            "enforcement.further_extension_decided",
            "集体讨论决定继续延期 / Further extension decided collectively",
            p.FurtherExtension,
            _BEFORE_DECISION - _BEFORE_FILING,
            check=_check_collective_extension,
        ),
        Step(
            "enforcement.decide",
            "enforcement.decision_made",
            "作出处罚决定 / Decide the penalty",
            p.Decision,
            _PARTY_HEARD,
            "decided",
            check=_check_decision,
            explain=_hearing_before_decision,
            effect=_decision_effect,
        ),
        Step(
            "enforcement.decide_no_penalty",
            "enforcement.no_penalty_decided",
            "不予行政处罚 / Decide not to penalise",
            p.NoPenaltyDecision,
            _DECIDABLE,
            "no_penalty_decided",
            check=_check_no_penalty,
            explain=_hearing_before_decision,
        ),
        Step(
            "enforcement.serve_decision",
            "enforcement.decision_served",
            "送达处罚决定书 / Serve the decision",
            p.Service,
            frozenset({"decided"}),
            "served",
            stamps="served_at",
        ),
        Step(
            "enforcement.serve_no_penalty_decision",
            "enforcement.no_penalty_decision_served",
            "送达不予处罚决定书 / Serve the no-penalty decision",
            p.Service,
            frozenset({"no_penalty_decided"}),
            "no_penalty_served",
        ),
        Step(
            "enforcement.publish_decision",
            "enforcement.decision_published",
            "公示 / Publish the decision",
            p.Publication,
            _AFTER_PENALTY,
            check=_check_publication,
            effect=_set(published=True),
        ),
        Step(
            "enforcement.demand_payment",
            "enforcement.payment_demanded",
            "催告 / Demand payment",
            p.PaymentDemand,
            frozenset({"served"}),
            "payment_demanded",
            check=_check_demand,
            effect=lambda s, pl: {"late_fine_fen": pl.late_fine_fen},
            stamps="demanded_at",
        ),
        Step(
            "enforcement.record_no_appeal",
            "enforcement.no_appeal_recorded",
            "复议诉讼期限届满 / Periods for review and suit ended",
            p.NoAppeal,
            frozenset({"served", "payment_demanded"}),
            check=_check_no_appeal,
            stamps="appeal_period_over_at",
        ),
        Step(
            "enforcement.apply_to_court",
            "enforcement.court_enforcement_applied",
            "申请法院强制执行 / Apply to the court for enforcement",
            p.CourtApplication,
            frozenset({"payment_demanded"}),
            "court_applied",
            check=_check_court_application,
        ),
        Step(
            "enforcement.record_court_acceptance",
            "enforcement.court_enforcement_accepted",
            "法院受理强制执行 / The court accepted the application",
            p.CourtAcceptance,
            frozenset({"court_applied"}),
            "court_accepted",
        ),
        Step(
            "enforcement.execute",
            "enforcement.executed",
            "执行 / Execute",
            p.Execution,
            # Paid late is still paid: after the demand, or while the court is asked.
            frozenset({"served", "payment_demanded", "court_applied"}),
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
            frozenset({"executed", "no_penalty_served", "court_accepted", "transferred_out"}),
            CLOSED,
            check=_check_close,
        ),
    ),
)
