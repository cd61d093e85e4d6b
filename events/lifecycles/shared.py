"""The steps every case shares, written once, and ``lifecycle``, which adds them to each case
type's own steps.

Transfer, extension, suspension and resumption, supervision notes (督办) and their answers,
documents, links to other cases, reopening where allowed, deadline warnings and breaches by the
system clock: each
lifecycle gets them with its own statuses. The checks that several case types use (assignment,
reply before closing) live here too.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from events import payloads as p
from events.calendar import local_day
from events.deadlines import Clock, Light
from events.errors import Rejection, RejectionCode, reject
from events.lifecycles.table import Lifecycle, Step
from events.model import CaseType
from events.officers import Role
from events.state import CaseState, Context

SUSPENDED = "suspended"
CLOSED = "closed"

# --- rules shared by every case type -------------------------------------------------------


def _check_extension(
    state: CaseState, payload: p.Extension, ctx: Context, _: datetime
) -> Rejection | None:
    clock = state.clock(payload.clock)
    if clock is None:
        running = ", ".join(c.rule for c in state.clocks) or "none"
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"deadline {payload.clock} is not running on case {state.case_id} (running: {running})",
        )
    left = clock.extendable_by - clock.extended_by
    if payload.days > left:
        return reject(
            RejectionCode.LIMIT_EXCEEDED,
            f"deadline {payload.clock} may be extended by {left} more day(s), not {payload.days}",
        )
    return None


# --- supervision (督办) ---------------------------------------------------------------------


def _check_supervision_note(
    state: CaseState, payload: p.SupervisionNote, ctx: Context, at: datetime
) -> Rejection | None:
    if payload.respond_by is not None and payload.respond_by < local_day(at):
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"respond_by {payload.respond_by} is before the day of the note ({local_day(at)})",
        )
    return None


def _note_effect(state: CaseState, _: p.SupervisionNote) -> dict[str, Any]:
    # Versions are gapless: the note's event is the case's next version, which its answer names.
    return {"supervision_notes": state.supervision_notes | {state.version + 1}}


def _check_supervision_answer(
    state: CaseState, payload: p.SupervisionAnswer, ctx: Context, at: datetime
) -> Rejection | None:
    number = payload.note_version
    if number not in state.supervision_notes:
        notes = ", ".join(str(n) for n in sorted(state.supervision_notes)) or "none"
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"version {number} of case {state.case_id} is not a supervision note (its notes:"
            f" {notes})",
        )
    if number in state.supervision_answered:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"supervision note {number} of case {state.case_id} was already answered",
        )
    return None


def link_key(kind: str, other_case_id: str) -> str:
    """How ``CaseState.links`` holds a link: "kind:other case id"."""
    return f"{kind}:{other_case_id}"


def _check_link(
    state: CaseState, payload: p.CaseLink, ctx: Context, _: datetime
) -> Rejection | None:
    """A link names another case, which lives on another partition, perhaps in another
    department, perhaps not registered yet (a petition that becomes a mediation may be linked
    before the mediation committee registers it). The decider sees this case's events only, so it
    checks what this case can vouch for: the other id is a well-formed case id (the payload's
    type), it is not this case, and this case does not hold the same link already. Whether the
    other case exists, and who may see the link, is the read side's business: a link to a case
    the reader may not see is not shown (projections.queries.cases.links).

    These are rules of the record, not of a regulation: linking is the office's own bookkeeping.
    The links it keeps are those the issue names: a repeat visit (重信重访, judged "同人同事":
    same petitioner, same matter; 信访工作条例（2022）, 条文未经核对 / article not checked
    against the text), a penalty case from a complaint or report (a case source, 市场监督管理行政
    处罚程序规定 第十八条, 条文未经核对 / article not checked against the text), a mediation
    passed on by a court, the police or the petition office (人民调解法 第十八条, 条文未经核对 /
    article not checked against the text)."""
    # Ids that differ only in case are one case number to the people who type and read them
    # (search finds either): compared so, a typo cannot link a case to itself or twice.
    if payload.other_case_id.casefold() == state.case_id.casefold():
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"case {state.case_id} cannot be linked to itself ({payload.other_case_id})",
        )
    key = link_key(payload.kind, payload.other_case_id).casefold()
    same = next((link for link in sorted(state.links) if link.casefold() == key), None)
    if same is not None:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"case {state.case_id} is already linked to {same.split(':', 1)[1]} as {payload.kind}",
        )
    return None


def _check_erasure(
    state: CaseState, payload: p.Erasure, ctx: Context, _: datetime
) -> Rejection | None:
    """An erasure names data subjects of this case whose data is not erased yet, each once:
    the record must say exactly whose keys went (个人信息保护法 第四十七条, 条文未经核对 /
    article not checked against the text)."""
    named = list(payload.subjects)
    twice = sorted({s for s in named if named.count(s) > 1})
    if twice:
        return reject(RejectionCode.INVALID_PAYLOAD, f"subjects named twice: {', '.join(twice)}")
    strangers = sorted(set(named) - state.subjects)
    if strangers:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"not data subjects of case {state.case_id}: {', '.join(strangers)}",
        )
    gone = sorted(set(named) & state.erased_subjects)
    if gone:
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"already erased on case {state.case_id}: {', '.join(gone)}",
        )
    return None


def _erasure_effect(state: CaseState, payload: p.Erasure) -> dict[str, Any]:
    return {"erased_subjects": state.erased_subjects | set(payload.subjects)}


def _answer_effect(state: CaseState, payload: p.SupervisionAnswer) -> dict[str, Any]:
    return {"supervision_answered": state.supervision_answered | {payload.note_version}}


def _link_effect(state: CaseState, payload: p.CaseLink) -> dict[str, Any]:
    return {"links": state.links | {link_key(payload.kind, payload.other_case_id)}}


def _signal(clock: Clock, light: Light) -> str:
    # The period by its first day and its length in its unit, not by its due day: a clock
    # started afresh, an extension (the heads' further one too) or a suspension makes a new
    # deadline, which can be signalled again, and folding never needs the calendar.
    period = clock.length + clock.extended_by + clock.further_extended_by + clock.paused_units
    return f"{clock.rule}:{light}:{clock.started_on.isoformat()}+{period}{clock.unit.value[0]}"


def _signal_check(light: Light) -> Any:
    def check(
        state: CaseState, payload: p.DeadlineSignal, ctx: Context, at: datetime
    ) -> Rejection | None:
        clock = state.clock(payload.clock)
        if clock is None:
            return reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"deadline {payload.clock} is not running on case {state.case_id}",
            )
        if _signal(clock, light) in state.signals:
            return reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"the {light} light of {payload.clock} is already recorded on case {state.case_id}",
            )
        actual = clock.light(at)
        if actual != light and not (light is Light.YELLOW and actual is Light.RED):
            return reject(
                RejectionCode.ILLEGAL_TRANSITION,
                f"deadline {payload.clock} is {actual} at {at.isoformat()}, not {light}"
                f" (due {clock.due_day().isoformat()})",
            )
        return None

    return check


def _signal_effect(light: Light) -> Any:
    def effect(state: CaseState, payload: p.DeadlineSignal) -> dict[str, Any]:
        clock = state.clock(payload.clock)
        if clock is None:
            # Only when folding with other rules than the decider had (a rule since dropped or
            # renamed): the signal stays in the history, and there is no period to mark.
            return {}
        return {"signals": state.signals | {_signal(clock, light)}}

    return effect


def _signal_step(
    light: Light, submission: str, event: str, title: str, allowed_from: frozenset[str]
) -> Step:
    """A deadline signal: only the system clock records it, on any case, in its own light (on a
    closed case only for a clock its closing does not stop: a supervision note's answer)."""
    return Step(
        submission,
        event,
        title,
        p.DeadlineSignal,
        allowed_from,
        roles=frozenset({Role.SYSTEM}),
        owner_only=False,
        check=_signal_check(light),
        effect=_signal_effect(light),
    )


def assignment_step(kind: str, title: str) -> Step:
    """Assigning a complaint or a petition to a department (and perhaps an officer)."""
    return Step(
        f"{kind}.assign",
        f"{kind}.assigned",
        title,
        p.Assignment,
        frozenset({"accepted", "assigned"}),
        "assigned",
        check=_check_assignment,
        effect=_assign_effect,
    )


def unknown_department(department: str, ctx: Context) -> Rejection | None:
    if any(officer.department == department for officer in ctx.officers.values()):
        return None
    return reject(
        RejectionCode.INVALID_PAYLOAD,
        f"unknown department {department}: no officer of the directory belongs to it",
    )


def _check_transfer(
    state: CaseState, payload: p.Transfer, ctx: Context, _: datetime
) -> Rejection | None:
    if payload.to_department == state.owner_department:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"case {state.case_id} is already owned by {payload.to_department}",
        )
    return unknown_department(payload.to_department, ctx)


def _check_assignment(
    state: CaseState, payload: p.Assignment, ctx: Context, _: datetime
) -> Rejection | None:
    unknown = unknown_department(payload.department, ctx)
    if unknown is not None or payload.officer_id is None:
        return unknown
    officer = ctx.officers.get(payload.officer_id)
    if officer is None or officer.department != payload.department:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"officer {payload.officer_id} is not an officer of {payload.department}",
        )
    return None


def _transfer_effect(state: CaseState, payload: p.Transfer) -> dict[str, Any]:
    return {"owner_department": payload.to_department, "assigned_officer": None}


def _assign_effect(state: CaseState, payload: p.Assignment) -> dict[str, Any]:
    return {"owner_department": payload.department, "assigned_officer": payload.officer_id}


def _resume_status(state: CaseState, _: Any) -> str:
    assert state.suspended_from is not None
    return state.suspended_from


def shared_steps(
    statuses: tuple[str, ...],
    terminal: frozenset[str],
    reopen_to: str | None,
    working_role: Role = Role.OFFICER,
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
            check=_check_supervision_note,
            effect=_note_effect,
        ),
        Step(
            # The owning department answers, on a closed case too: the note may come after it.
            "case.answer_supervision",
            "case.supervision_answered",
            "督办反馈 / Answer a supervision note",
            p.SupervisionAnswer,
            everything,
            roles=frozenset({working_role, Role.OFFICER}),
            check=_check_supervision_answer,
            effect=_answer_effect,
        ),
        Step(
            # Every status, closed ones too: a repeat is often recognised after the first case
            # was closed, and a link changes nothing of the case's own course.
            "case.link",
            "case.linked",
            "关联案件 / Link to another case",
            p.CaseLink,
            everything,
            check=_check_link,
            effect=_link_effect,
        ),
        Step(
            # Every status: retention periods run from closure. Any department's personal-data
            # officer, as the auditor approved: the keys are not the owning department's to keep.
            "case.erase_personal_data",
            "case.personal_data_erased",
            "删除个人信息 / Erase personal data",
            p.Erasure,
            everything,
            roles=frozenset({Role.PRIVACY_OFFICER}),
            owner_only=False,
            check=_check_erasure,
            effect=_erasure_effect,
        ),
        Step(
            "case.attach_document",
            "case.document_attached",
            "附件 / Attach a document",
            p.Document,
            everything - terminal,
        ),
        _signal_step(
            Light.YELLOW,
            "case.record_deadline_warning",
            "case.deadline_warning_recorded",
            "黄灯预警 / Deadline warning",
            everything,
        ),
        _signal_step(
            Light.RED,
            "case.record_deadline_breach",
            "case.deadline_breached",
            "红灯警示 / Deadline breached",
            everything,
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
    statuses: Mapping[str, str],
    terminal: frozenset[str],
    steps: tuple[Step, ...],
    reopen_to: str | None = None,
    refused: frozenset[str] = frozenset(),
    awaiting: frozenset[str] = frozenset(),
) -> Lifecycle:
    """A case type's lifecycle: ``statuses`` maps each status to its "中文 / English" label, in
    the order of the work; the shared steps and the suspended status are added here."""
    every = (*statuses, SUSPENDED)
    return Lifecycle(
        case_type=case_type,
        title=title,
        working_role=working_role,
        needs_certificate=working_role is Role.ENFORCEMENT_OFFICER,
        statuses=every,
        terminal=terminal,
        steps=steps + shared_steps(every, terminal, reopen_to, working_role),
        status_titles={**statuses, SUSPENDED: "已中止 / Suspended"},
        refused=refused,
        awaiting=awaiting,
    )


def reply_before_closing(kind: str, before_reply: frozenset[str]) -> Any:
    def explain(state: CaseState, _: Any, ctx: Context, at: datetime) -> Rejection | None:
        if state.status in before_reply:
            return reject(
                RejectionCode.REPLY_REQUIRED,
                f"{kind} {state.case_id} cannot be closed before the reply is given"
                f" (it is '{state.status}')",
            )
        return None

    return explain
