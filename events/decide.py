"""The case lifecycles as pure functions.

``decide(state, submission, context)`` answers a submission with the events it records or a
rejection; ``evolve(state, event, rules)`` folds one event into the case's state. The rules are
the lifecycle tables of ``events.lifecycles``; the checks run in a fixed order, so that each
rejection names the first thing wrong:

0. the step happened before its recording (give or take CLOCK_SKEW) and not before the case's
   last step (``invalid_payload``);
1. the case exists (``unknown_case``) or, for an opening step, does not (``case_exists``);
2. the step belongs to the case's type (``wrong_case_type``);
3. ``expected_version``, when given, is the case's version (``version_conflict``);
4. the actor is a known officer of the department they claim, holding a role the step allows
   (``forbidden_role``), with an enforcement certificate valid on ``occurred_at`` where the step
   needs one (``certificate_required``);
5. the actor's department owns the case or, for a step the law gives to another body, is that
   body (a petition review: the reviewing body the request named) (``wrong_department``);
6. the lifecycle allows the step from the case's status (``illegal_transition``, or the step's
   more precise reason: ``reply_required``, ``final_stage_reached``);
7. the step's own rules, each step's in the order its ``check`` gives them
   (``legal_review_required``, ``collective_discussion_required``, ``hearing_required``,
   ``two_officers_required``, ``period_not_over``, ``period_expired``,
   ``publication_required``, ``reply_required``, ``missing_field``, ``limit_exceeded``,
   ``wrong_department``, ``illegal_transition``, and ``invalid_payload`` for a
   value the case rules out: a transfer to its own department, a disclosure answer's ground
   where nothing is withheld, an officer named twice among those present, a link of a case to
   itself — a link's other case is never looked up: the decider sees one case's events only);
   the actor authorised in 4 is in ``Context.actor`` for rules that count people;
8. every deadline the step starts or moves can be counted: no day up to its due day lies in a year
   whose holiday schedule no source holds (``calendar_not_covered``).

``evolve`` also moves the case's clocks by the rules of ``events.deadlines``: an event starts,
stops, pauses or extends them; closing the case stops every clock but those owed outside its
handling (``ClockRule.follows_case``: a supervision note's answer), and a rule with
``per_event`` keeps one clock per starting event, stopped by the event that names it.
"""

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from events.calendar import CalendarNotCovered, local_day
from events.deadlines import DEFAULT_RULES, SUSPENSION, Clock, ClockRule, start_clock
from events.errors import Rejection, RejectionCode, reject
from events.hashing import GENESIS_HASH
from events.lifecycles import LIFECYCLES, OPENING_STEPS, Lifecycle, Step
from events.model import Actor, Event
from events.officers import SYSTEM_CLOCK_ID, Role
from events.sealed import may_hold_sealed, subjects_in
from events.state import CaseState, Context
from events.submissions import SubmissionBase
from events.upcasting import CURRENT_VERSIONS, typed_payload

CLOCK_SKEW = timedelta(minutes=5)
"""How far a department's clock may run ahead of the decider's."""


def decide(
    state: CaseState | None, submission: SubmissionBase, ctx: Context
) -> tuple[Event, ...] | Rejection:
    decided = decide_and_fold(state, submission, ctx)
    return decided if isinstance(decided, Rejection) else decided[0]


def decide_and_fold(
    state: CaseState | None, submission: SubmissionBase, ctx: Context
) -> tuple[tuple[Event, ...], CaseState] | Rejection:
    """``decide``, with the state its events lead to: folding them is part of deciding (every
    deadline they start must be countable), so the caller need not fold them again."""
    found = _lifecycle_and_step(state, submission)
    if isinstance(found, Rejection):
        return found
    lifecycle, step = found
    if submission.occurred_at > ctx.recorded_at + CLOCK_SKEW:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"occurred_at {submission.occurred_at.isoformat()} is later than the time of"
            f" recording {ctx.recorded_at.isoformat()}: a step is recorded after it happens",
        )
    if state is not None and submission.occurred_at < state.last_occurred_at:
        return reject(
            RejectionCode.INVALID_PAYLOAD,
            f"occurred_at {submission.occurred_at.isoformat()} is before the last step of case"
            f" {state.case_id} ({state.last_occurred_at.isoformat()}): steps happen in order",
        )
    version = state.version if state is not None else 0
    if submission.expected_version is not None and submission.expected_version != version:
        return reject(
            RejectionCode.VERSION_CONFLICT,
            f"expected_version {submission.expected_version} but case {submission.case_id} is at"
            f" version {version}",
        )
    actor = _authorised_actor(lifecycle, step, submission, ctx)
    if isinstance(actor, Rejection):
        return actor
    ctx = replace(ctx, actor=actor)
    try:
        if state is not None:
            refused = _refused_by_state(lifecycle, step, state, submission, ctx)
            if refused is not None:
                return refused
        event = _record(lifecycle, step, state, submission, actor, ctx)
        if ctx.seal is not None:
            event = ctx.seal(event)
        after = evolve(state, event, ctx.rules)
        _count_every_deadline(state, after)
    except CalendarNotCovered as gap:
        return reject(RejectionCode.CALENDAR_NOT_COVERED, f"case {submission.case_id}: {gap}")
    return (event,), after


def evolve(
    state: CaseState | None,
    event: Event,
    rules: tuple[ClockRule, ...] = DEFAULT_RULES,
    payload: Any = None,
) -> CaseState:
    """``state`` once ``event`` is recorded. ``payload``, when given, is ``typed_payload(event)``
    (a caller that reads it too passes it, so that each event is parsed once)."""
    lifecycle = LIFECYCLES[event.case_type]
    step = lifecycle.by_event[event.type]
    if payload is None:
        payload = typed_payload(event)
    at = event.occurred_at
    if state is None:
        state = CaseState(
            case_id=event.case_id,
            case_type=event.case_type,
            version=0,
            status="",
            owner_department=event.department,
            opened_at=at,
            last_occurred_at=at,
            last_hash=GENESIS_HASH,
        )
    updates: dict[str, Any] = {
        "version": event.version,
        "last_hash": event.hash,
        "last_occurred_at": max(at, state.last_occurred_at),
        "recorded": state.recorded | {event.type},
    }
    sealed = subjects_in(event.payload) if may_hold_sealed(event.type) else frozenset()
    if sealed:
        updates["subjects"] = state.subjects | sealed
    if step.to_status is not None:
        updates["status"] = (
            step.to_status if isinstance(step.to_status, str) else step.to_status(state, payload)
        )
    if step.stamps is not None:
        updates[step.stamps] = at
    if step.effect is not None:
        updates.update(step.effect(state, payload))
    updates["clocks"] = _clocks_after(lifecycle, state, event, payload, rules)
    entering_terminal = state.status not in lifecycle.terminal
    if entering_terminal and updates.get("status", state.status) in lifecycle.terminal:
        updates["closed_at"] = at
        updates["clocks"] = _clocks_outliving_closure(updates["clocks"], rules)
    return state.model_copy(update=updates)


def fold(events: Iterable[Event], rules: tuple[ClockRule, ...] = DEFAULT_RULES) -> CaseState | None:
    state: CaseState | None = None
    for event in events:
        state = evolve(state, event, rules)
    return state


# --- the checks ---------------------------------------------------------------------------


def _lifecycle_and_step(
    state: CaseState | None, submission: SubmissionBase
) -> tuple[Lifecycle, Step] | Rejection:
    opening = OPENING_STEPS.get(submission.type)
    if state is None:
        if opening is None:
            return reject(
                RejectionCode.UNKNOWN_CASE,
                f"case {submission.case_id} does not exist; open it first",
            )
        return opening
    if opening is not None:
        return reject(
            RejectionCode.CASE_EXISTS,
            f"case {submission.case_id} already exists ({state.case_type}, version"
            f" {state.version})",
        )
    lifecycle = LIFECYCLES[state.case_type]
    step = lifecycle.by_submission.get(submission.type)
    if step is None:
        return reject(
            RejectionCode.WRONG_CASE_TYPE,
            f"{submission.type} does not apply to case {submission.case_id}, a {state.case_type}",
        )
    return lifecycle, step


def _authorised_actor(
    lifecycle: Lifecycle, step: Step, submission: SubmissionBase, ctx: Context
) -> Actor | Rejection:
    """The actor as the event records it, or why they may not take the step."""
    claimed = submission.actor
    allowed = lifecycle.roles_for(step)
    allowed_text = ", ".join(sorted(allowed))
    if Role.SYSTEM in allowed or claimed.role == Role.SYSTEM:
        # The system clock is no officer in the directory: it alone records deadline signals,
        # and nobody else may act as it.
        is_clock = claimed.officer_id == SYSTEM_CLOCK_ID and claimed.role == Role.SYSTEM
        if is_clock and Role.SYSTEM in allowed:
            return Actor(
                officer_id=SYSTEM_CLOCK_ID, role=Role.SYSTEM, department=claimed.department
            )
        return reject(
            RejectionCode.FORBIDDEN_ROLE,
            f"{step.submission} may be recorded by: {allowed_text}; not by"
            f" {claimed.officer_id} as {claimed.role}",
        )
    officer = ctx.officers.get(claimed.officer_id)
    if officer is None:
        return reject(RejectionCode.FORBIDDEN_ROLE, f"unknown officer {claimed.officer_id}")
    if officer.department != claimed.department:
        return reject(
            RejectionCode.FORBIDDEN_ROLE,
            f"officer {officer.officer_id} belongs to {officer.department}, not"
            f" {claimed.department}",
        )
    if claimed.role not in officer.roles:
        return reject(
            RejectionCode.FORBIDDEN_ROLE,
            f"officer {officer.officer_id} does not hold the role {claimed.role}",
        )
    if claimed.role not in allowed:
        return reject(
            RejectionCode.FORBIDDEN_ROLE,
            f"{step.submission} may be recorded by: {allowed_text}; not as {claimed.role}",
        )
    certificate = None
    if claimed.role == Role.ENFORCEMENT_OFFICER and lifecycle.needs_certificate:
        day = local_day(submission.occurred_at)
        if officer.certificate is None or not officer.certificate.valid_on(day):
            held = (
                f"certificate {officer.certificate.number} is valid"
                f" {officer.certificate.valid_from} to {officer.certificate.valid_until}"
                if officer.certificate
                else "holds no enforcement certificate"
            )
            return reject(
                RejectionCode.CERTIFICATE_REQUIRED,
                f"{step.submission} needs an enforcement certificate valid on {day};"
                f" officer {officer.officer_id}: {held}",
            )
        certificate = officer.certificate.number
    return Actor(
        officer_id=officer.officer_id,
        role=claimed.role,
        department=officer.department,
        certificate=certificate,
    )


def _refused_by_state(
    lifecycle: Lifecycle, step: Step, state: CaseState, submission: SubmissionBase, ctx: Context
) -> Rejection | None:
    acting = step.acting_department(state, submission.payload) if step.acting_department else None
    if acting is not None:
        if submission.actor.department != acting:
            return reject(
                RejectionCode.WRONG_DEPARTMENT,
                f"{submission.type} on case {state.case_id} is recorded by {acting}"
                f" ({step.acting_department_is}), not by {submission.actor.department}",
            )
    elif step.owner_only and submission.actor.department != state.owner_department:
        return reject(
            RejectionCode.WRONG_DEPARTMENT,
            f"case {state.case_id} is owned by {state.owner_department}, not"
            f" {submission.actor.department}",
        )
    if state.status not in step.allowed_from:
        precise = (
            step.explain(state, submission.payload, ctx, submission.occurred_at)
            if step.explain
            else None
        )
        if precise is not None:
            return precise
        allowed = ", ".join(s for s in lifecycle.statuses if s in step.allowed_from)
        return reject(
            RejectionCode.ILLEGAL_TRANSITION,
            f"{submission.type} is not allowed while {state.case_type} {state.case_id} is"
            f" '{state.status}' (allowed from: {allowed})",
        )
    if step.check is not None:
        return step.check(state, submission.payload, ctx, submission.occurred_at)
    return None


def _count_every_deadline(before: CaseState | None, after: CaseState) -> None:
    """Raise ``CalendarNotCovered`` if a deadline the step started or moved cannot be counted."""
    unchanged = set(before.clocks) if before is not None else set()
    for clock in after.clocks:
        if clock not in unchanged:
            clock.due_day()


# --- recording and folding -----------------------------------------------------------------


def event_id_for(submission_id: uuid.UUID, index: int) -> uuid.UUID:
    """Event ids derive from the submission, so deciding the same submission twice gives the same
    ids: a duplicate can never pass as a new event."""
    return uuid.uuid5(submission_id, str(index))


def _record(
    lifecycle: Lifecycle,
    step: Step,
    state: CaseState | None,
    submission: SubmissionBase,
    actor: Actor,
    ctx: Context,
) -> Event:
    fields: dict[str, Any] = {
        "event_id": event_id_for(submission.submission_id, 0),
        "case_id": submission.case_id,
        "case_type": lifecycle.case_type,
        "version": (state.version if state is not None else 0) + 1,
        "type": step.event,
        "schema_version": CURRENT_VERSIONS.get(step.event, 1),
        "occurred_at": submission.occurred_at,
        "recorded_at": ctx.recorded_at,
        "actor": actor,
        "department": actor.department,
        "submission_id": submission.submission_id,
        "correlation_id": submission.correlation_id or submission.submission_id,
        "causation_id": submission.submission_id,
        "vouched_by": ctx.vouched_by,
        "payload": submission.payload.model_dump(mode="json"),
        "prev_hash": state.last_hash if state is not None else GENESIS_HASH,
        "hash": GENESIS_HASH,  # placeholder: the hash covers every other field
    }
    unhashed = Event.model_validate(fields)
    return unhashed.model_copy(update={"hash": unhashed.computed_hash(ctx.suite)})


def _clocks_after(
    lifecycle: Lifecycle, state: CaseState, event: Event, payload: Any, rules: tuple[ClockRule, ...]
) -> tuple[Clock, ...]:
    at = event.occurred_at
    by_name, starting = _indexed(rules)

    def rule_of(clock: Clock) -> ClockRule | None:
        return by_name.get(clock.rule_name)

    clocks = [
        clock for clock in state.clocks if not _stopped(clock, rule_of(clock), payload, event)
    ]
    if event.type in (SUSPENSION, "case.resumed"):
        clocks = [
            _suspended_or_resumed(clock, event.type, at) if _follows_case(rule_of(clock)) else clock
            for clock in clocks
        ]
    clocks = [_paused_or_resumed(clock, rule_of(clock), event.type, at) for clock in clocks]
    if event.type == "case.deadline_extended":
        clocks = [_extended(c, payload.days) if c.rule == payload.clock else c for c in clocks]
    clocks = [_further_extended(c, rule_of(c), event.type, payload) for c in clocks]
    for rule in starting.get(event.type, ()):
        if rule.applies_to(lifecycle.case_type):
            clock = start_clock(rule, at, event.version, _due_on(rule, payload))
            clocks = [c for c in clocks if c.rule != clock.rule] + [clock]
    return tuple(clocks)


_INDEXES: dict[int, tuple[tuple[ClockRule, ...], dict[str, ClockRule], dict[str, list[ClockRule]]]]
_INDEXES = {}


def _indexed(
    rules: tuple[ClockRule, ...],
) -> tuple[dict[str, ClockRule], dict[str, list[ClockRule]]]:
    """The rules by name, and by the event types that start or restart them (in the rules'
    order). Kept per rules tuple (by identity: hashing the rules would cost what indexing them
    saves): every event folded looks them up, and the rules rarely change."""
    found = _INDEXES.get(id(rules))
    if found is None or found[0] is not rules:
        starting: dict[str, list[ClockRule]] = {}
        for rule in rules:
            for event_type in dict.fromkeys((rule.starts_on, *sorted(rule.restarts_on))):
                starting.setdefault(event_type, []).append(rule)
        found = (rules, {rule.name: rule for rule in rules}, starting)
        if len(_INDEXES) > 64:  # rules made on the fly (tests): keep the cache small
            _INDEXES.clear()
        _INDEXES[id(rules)] = found
    return found[1], found[2]


def _clocks_outliving_closure(
    clocks: tuple[Clock, ...], rules: tuple[ClockRule, ...]
) -> tuple[Clock, ...]:
    """The clocks still running once the case closes: those its closing does not stop."""
    by_name = _indexed(rules)[0]
    return tuple(clock for clock in clocks if not _follows_case(by_name.get(clock.rule_name)))


def _follows_case(rule: ClockRule | None) -> bool:
    # A clock whose rule is no longer configured behaves as the law's periods do.
    return rule is None or rule.follows_case


def _stopped(clock: Clock, rule: ClockRule | None, payload: Any, event: Event) -> bool:
    if rule is None or event.type not in rule.stops_on:
        return False
    if rule.per_event is None:
        return True
    return clock.rule == rule.clock_name(getattr(payload, rule.per_event, None))


def _due_on(rule: ClockRule, payload: Any) -> date | None:
    if rule.due_from is None:
        return None
    due = getattr(payload, rule.due_from, None)
    return due if isinstance(due, date) else None


def _suspended_or_resumed(clock: Clock, event_type: str, at: datetime) -> Clock:
    return clock.paused(at) if event_type == SUSPENSION else clock.resumed(at)


def _paused_or_resumed(
    clock: Clock, rule: ClockRule | None, event_type: str, at: datetime
) -> Clock:
    """The clock after ``event_type`` began or ended one of its rule's pauses."""
    for pause in rule.pauses if rule is not None else ():
        if event_type == pause.on:
            clock = clock.paused(at, pause.on)
        elif event_type == pause.until:
            clock = clock.resumed(at, pause.on)
    return clock


def _extended(clock: Clock, days: int) -> Clock:
    """The clock with an extension the decider granted; the decider checked it against its
    rule, so a fold with a stricter rule (configuration changed since) honours the record."""
    allowed = max(clock.extendable_by, clock.extended_by + days)
    return clock.model_copy(update={"extendable_by": allowed}).extended(days)


def _further_extended(clock: Clock, rule: ClockRule | None, event_type: str, payload: Any) -> Clock:
    if rule is not None and rule.further_extension_on == event_type:
        return clock.further_extended(payload.days)
    return clock
