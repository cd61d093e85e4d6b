"""Properties of the lifecycles over random sequences of submissions (hypothesis).

Each example opens a case of one type and submits random steps drawn from ALL the steps of its
lifecycle table, half of the time one the table allows from the current status, with valid
payloads, by the right actor or by anyone of the directory (or an impostor), at increasing
instants. Whatever happens: the status stays one of the lifecycle's, folding the accepted events
gives the state decided from, a rejection changes nothing, and the hash chain verifies and breaks
under any tampering.
"""

import uuid
from collections import deque
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from events.deadlines import DEFAULT_RULES, Clock, rules_by_name
from events.decide import decide, evolve, fold
from events.errors import Rejection, RejectionCode
from events.hashing import GENESIS_HASH
from events.lifecycles import LIFECYCLES, OPENING_STEPS, Lifecycle, Step
from events.model import Actor, CaseType, Event, VouchedBy
from events.officers import Role
from events.payloads import (
    ConsultationView,
    DisclosureAnswerType,
    MediationRefused,
    PenaltyKind,
    RefusalGround,
    Satisfaction,
)
from events.state import CaseState, Context
from tests.signing import SUITE
from tests.unit.domain.support import (
    CASE_ID,
    DEPARTMENTS,
    MEDIATOR,
    MEDIATOR_2,
    OFFICERS,
    SYSTEM,
    ZX,
    china,
    example_payload,
    parsed,
    submission,
    verify_chain,
)

RULES = rules_by_name(DEFAULT_RULES)
SETTINGS = settings(
    max_examples=40,
    database=None,  # no .hypothesis directory in the repository
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
START = china(2020, 3, 2)  # certificates in the directory: valid, and one expiring 2020-06-30

# --- strategies ---------------------------------------------------------------------------------

ALL_ACTORS: list[dict[str, Any]] = [
    {"officer_id": o.officer_id, "role": str(role), "department": o.department}
    for o in OFFICERS.values()
    for role in sorted(o.roles)
] + [
    SYSTEM,
    {"officer_id": "DY-XX-99", "role": "officer", "department": "信访办"},  # unknown
    {"officer_id": "DY-XF-01", "role": "officer", "department": ZX},  # wrong department
    {"officer_id": "DY-XF-01", "role": "system", "department": "信访办"},  # posing as the clock
]


WORKING_DEPARTMENTS: dict[CaseType, list[str]] = {
    case_type: sorted(
        {o.department for o in OFFICERS.values() if LIFECYCLES[case_type].working_role in o.roles}
    )
    for case_type in CaseType
}


def proper_actors(
    lifecycle: Lifecycle, step: Step, state: CaseState | None, payload: Any
) -> list[dict[str, Any]]:
    """The actors who may take the step (owners, or the one body the step names, first), so
    that cases get somewhere."""
    roles = lifecycle.roles_for(step)
    if Role.SYSTEM in roles:
        return [SYSTEM]
    found = [
        {"officer_id": o.officer_id, "role": str(role), "department": o.department}
        for o in OFFICERS.values()
        for role in sorted(o.roles & roles)
    ]
    acting = None
    if state is not None and step.acting_department is not None:
        try:
            acting = step.acting_department(state, step.payload.model_validate(payload))
        except ValueError:
            acting = None  # a payload the step refuses: anyone may be refused
    if acting is not None:
        found = [a for a in found if a["department"] == acting] or found
    elif state is not None and step.owner_only:
        owners = [a for a in found if a["department"] == state.owner_department]
        found = owners or found
    return found or ALL_ACTORS


def payloads(case_type: CaseType, step: Step) -> st.SearchStrategy[dict[str, Any]]:
    """Valid payloads for the step: its examples, with the fields that steer the case varied."""
    fields = step.payload.model_fields
    clocks = sorted({r.name for r in DEFAULT_RULES if r.applies_to(case_type)})
    # a valid penalty: a fine always has an amount (payloads.Penalty refuses one without)
    penalty = st.sampled_from(list(PenaltyKind)).flatmap(
        lambda kind: st.fixed_dictionaries(
            {
                "kind": st.just(kind.value),
                "amount_fen": st.integers(1 if kind is PenaltyKind.FINE else 0, 10_000_000),
                "description": st.just("处罚"),
            }
        )
    )
    # mostly departments that can work the case (others leave it with nobody who can act)
    departments = st.one_of(
        st.sampled_from(WORKING_DEPARTMENTS[case_type]), st.sampled_from(DEPARTMENTS)
    )
    varied: dict[str, st.SearchStrategy[Any]] = {
        "approved": st.booleans(),
        "major": st.booleans(),
        "performed": st.booleans(),
        "bank_receipt": st.sampled_from([None, "GDNX2020101500123"]),
        "clock": st.sampled_from([*clocks, "petition.handling"]),
        "days": st.integers(1, 40),
        "penalty": penalty,
        "intended_penalty": penalty,
        "department": departments,
        "to_department": departments,
        "mediator_id": st.sampled_from([MEDIATOR, MEDIATOR_2]),
        "outcome": st.sampled_from(["upheld", "revised"]),
        "reviewing_department": departments,
        "received_on": st.dates(START.date(), START.date() + timedelta(days=400)),
        "persons": st.integers(1, 5),
        "satisfaction": st.sampled_from([s.value for s in Satisfaction]),
        "answer": st.sampled_from([a.value for a in DisclosureAnswerType]),
        "view": st.sampled_from([v.value for v in ConsultationView]),
        "note_version": st.integers(1, 12),
        "respond_by": st.sampled_from([None, "2020-03-02", "2020-10-20", "2021-06-30"]),
    }
    if case_type is CaseType.DISCLOSURE:  # enforcement's no-penalty "ground" is another enum
        varied["ground"] = st.sampled_from([None, "third_party_rights"])
    if step.payload is MediationRefused:  # and so is a mediation refusal's
        varied["ground"] = st.sampled_from([g.value for g in RefusalGround])
    base = {name: st.just(value) for name, value in example_payload(step.submission).items()}
    named = st.fixed_dictionaries(
        {**base, **{name: s for name, s in varied.items() if name in fields}}
    )
    if "anonymous" not in fields:
        return named
    # an anonymous complaint records no complainant
    anonymous = named.map(
        lambda p: {k: v for k, v in p.items() if k != "complainant"} | {"anonymous": True}
    )
    return st.one_of(named, anonymous)


# --- playing a random history -------------------------------------------------------------------


def opening_steps(lifecycle: Lifecycle) -> list[Step]:
    steps = [s for s in lifecycle.steps if s.opens_case]
    assert all(OPENING_STEPS[step.submission] == (lifecycle, step) for step in steps)
    return steps


def _follows_case(clock: Clock) -> bool:
    return RULES[clock.rule_name].follows_case


def check_state(lifecycle: Lifecycle, state: CaseState) -> None:
    """What must hold of every state a case can reach."""
    assert state.status in lifecycle.statuses, state.status
    assert state.case_type is lifecycle.case_type
    if state.status in lifecycle.terminal:
        assert state.closed_at is not None
        # only a clock its closing does not stop (a supervision note's answer) outlives it
        assert not any(_follows_case(clock) for clock in state.clocks)
    else:
        assert state.closed_at is None
    if state.status == "suspended":
        assert state.suspended_from in lifecycle.open_statuses()
        assert all(
            (clock.paused_since is not None) == _follows_case(clock) for clock in state.clocks
        )
    else:
        assert state.suspended_from is None
        # Outside a suspension a clock stands still only for a pause its own rule names.
        pauses = {rule.name: {pause.on for pause in rule.pauses} for rule in DEFAULT_RULES}
        for clock in state.clocks:
            assert (clock.paused_since is None) == (not clock.paused_by), clock
            assert clock.paused_by <= pauses[clock.rule_name], clock
    assert len({c.rule for c in state.clocks}) == len(state.clocks)
    awaiting = {f"case.supervision_answer#{n}" for n in state.awaiting_answer()}
    assert {c.rule for c in state.clocks if not _follows_case(c)} == awaiting


def play(
    data: st.DataObject, case_type: CaseType, max_steps: int
) -> tuple[CaseState | None, list[Event]]:
    """Submit random steps, checking each outcome; the final state and the accepted events."""
    lifecycle = LIFECYCLES[case_type]
    openings = opening_steps(lifecycle)
    state: CaseState | None = None
    events: list[Event] = []
    at = START
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        if state is None:
            step = data.draw(st.sampled_from(openings), label="opening")
        else:
            # mostly a step of the case type's own that the table allows, so that cases get
            # somewhere; sometimes a shared one (suspend, transfer…); sometimes any step at all
            allowed = [s for s in lifecycle.steps if state.status in s.allowed_from]
            own = [s for s in allowed if not s.submission.startswith("case.")]
            pools = [list(lifecycle.steps), allowed, own, own, own, own]
            pool = pools[data.draw(st.integers(0, len(pools) - 1), label="pool")]
            step = data.draw(st.sampled_from(pool or allowed or lifecycle.steps), label="step")
        payload = data.draw(payloads(case_type, step), label="payload")
        who = data.draw(
            st.sampled_from(proper_actors(lifecycle, step, state, payload))
            if data.draw(st.integers(0, 7), label="anyone") > 0
            else st.sampled_from(ALL_ACTORS),
            label="actor",
        )
        at += timedelta(minutes=data.draw(st.integers(0, 20 * 24 * 60), label="minutes"))
        version = state.version if state is not None else 0
        expected = data.draw(
            st.sampled_from([None, None, None, version, version + 1, max(version - 1, 0)]),
            label="expected_version",
        )
        raw = submission(
            state.case_id if state is not None else CASE_ID,
            step.submission,
            payload,
            actor=who,
            occurred_at=at,
            expected_version=expected,
        )
        sub = parsed(raw)
        ctx = Context(recorded_at=at + timedelta(minutes=1), officers=OFFICERS, suite=SUITE)
        snapshot = state.model_dump() if state is not None else None
        result = decide(state, sub, ctx)
        assert decide(state, sub, ctx) == result  # deciding is a pure function
        if isinstance(result, Rejection):
            # a rejection changes nothing
            assert (state.model_dump() if state is not None else None) == snapshot
            assert isinstance(result.code, RejectionCode)
            assert result.message
            continue
        (event,) = result
        assert event.version == version + 1
        assert event.prev_hash == (state.last_hash if state is not None else GENESIS_HASH)
        assert event.computed_hash(suite=SUITE) == event.hash
        assert event.type == step.event
        assert event.occurred_at == at
        state = evolve(state, event)
        events.append(event)
        check_state(lifecycle, state)
        assert fold(events) == state  # the fold from scratch is the state decided from
    return state, events


@pytest.mark.parametrize("case_type", list(CaseType))
@SETTINGS
@given(data=st.data())
def test_random_histories_keep_every_invariant(case_type: CaseType, data: st.DataObject) -> None:
    state, events = play(data, case_type, max_steps=30)
    event(f"final status: {state.status if state is not None else '(none)'}")
    assert (state is None) == (events == [])
    assert verify_chain(events)
    if state is not None:
        assert fold(events) == state
        assert state.version == len(events)
        assert state.last_hash == events[-1].hash


# --- tampering ----------------------------------------------------------------------------------


def tampered(event: Event, name: str) -> Event:
    """The event with field ``name`` changed (hash left as it was)."""
    other_actor = Actor(officer_id="DY-XF-02", role="officer", department="信访办")
    changes: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "case_id": event.case_id + "X",
        "case_type": next(t for t in CaseType if t is not event.case_type),
        "version": event.version + 1,
        "type": event.type + "x",
        "schema_version": event.schema_version + 1,
        "occurred_at": event.occurred_at + timedelta(seconds=1),
        "recorded_at": event.recorded_at - timedelta(days=1),
        "actor": other_actor
        if event.actor != other_actor
        else other_actor.model_copy(update={"officer_id": "DY-XF-01"}),
        "department": event.department + "X",
        "submission_id": uuid.uuid4(),
        "correlation_id": uuid.uuid4(),
        "causation_id": uuid.uuid4(),
        # Vouched for by someone else, or (when it was) by nobody: either changes the hash.
        "vouched_by": VouchedBy(key_id="0" * 16, department="别的部门", kind="gateway")
        if event.vouched_by is None
        else None,
        "payload": {**event.payload, "note": "改过的"}
        if event.payload.get("note") != "改过的"
        else {},
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }
    assert set(changes) == set(Event.model_fields), "a field of Event is not tampered with"
    return event.model_copy(update={name: changes[name]})


FIELDS = sorted(Event.model_fields)


@pytest.mark.parametrize("case_type", list(CaseType))
@SETTINGS
@given(data=st.data())
def test_any_tampering_breaks_the_chain(case_type: CaseType, data: st.DataObject) -> None:
    _, events = play(data, case_type, max_steps=12)
    assert verify_chain(events)
    if not events:
        return
    head = events[-1].hash
    index = data.draw(st.integers(0, len(events) - 1), label="index")
    name = data.draw(st.sampled_from(FIELDS), label="field")
    # one field changed
    changed = [*events]
    changed[index] = tampered(events[index], name)
    assert not verify_chain(changed), name
    # one field changed and the event re-hashed: the next event (or the head) no longer matches
    rehashed = changed[index].model_copy(update={"hash": changed[index].computed_hash(suite=SUITE)})
    if name != "hash":  # re-hashing a changed hash gives the original back
        assert not verify_chain([*events[:index], rehashed, *events[index + 1 :]], head)
    # one event dropped: the chain breaks, or the head (truncation) does not match
    dropped = events[:index] + events[index + 1 :]
    assert not verify_chain(dropped, head)
    if index < len(events) - 1:
        assert not verify_chain(dropped)
    # two adjacent events swapped
    if len(events) >= 2:
        i = min(index, len(events) - 2)
        swapped = [*events]
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        assert not verify_chain(swapped)
        assert not verify_chain(swapped, head)


# --- the tables themselves ----------------------------------------------------------------------


def _outcomes(lifecycle: Lifecycle, step: Step, source: str) -> set[str]:
    """The statuses a step can lead to from ``source``."""
    if step.to_status is None:
        return {source}
    if isinstance(step.to_status, str):
        return {step.to_status}
    example = example_payload(step.submission)
    variants = [example] + [
        {**example, name: not value} for name, value in example.items() if isinstance(value, bool)
    ]
    results = set()
    for previous in lifecycle.open_statuses():
        state = CaseState(
            case_id=CASE_ID,
            case_type=lifecycle.case_type,
            version=1,
            status=source,
            owner_department="信访办",
            opened_at=START,
            last_occurred_at=START,
            last_hash=GENESIS_HASH,
            suspended_from=previous if source == "suspended" else None,
        )
        for variant in variants:
            results.add(step.to_status(state, step.payload.model_validate(variant)))
    return results


def _graph(lifecycle: Lifecycle) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {status: set() for status in lifecycle.statuses}
    for step in lifecycle.steps:
        for source in step.allowed_from:
            edges[source] |= _outcomes(lifecycle, step, source)
    return edges


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, deque([start])
    while todo:
        for target in edges[todo.popleft()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


@pytest.mark.parametrize("case_type", list(CaseType))
def test_the_tables_never_lead_outside_the_lifecycle(case_type: CaseType) -> None:
    lifecycle = LIFECYCLES[case_type]
    statuses = set(lifecycle.statuses)
    assert len(statuses) == len(lifecycle.statuses)
    assert lifecycle.terminal <= statuses
    assert "suspended" in statuses
    assert len({s.submission for s in lifecycle.steps}) == len(lifecycle.steps)
    assert len({s.event for s in lifecycle.steps}) == len(lifecycle.steps)
    for step in lifecycle.steps:
        assert step.allowed_from <= statuses, step.submission
        for source in step.allowed_from:
            assert _outcomes(lifecycle, step, source) <= statuses, step.submission
        assert step.event.split(".")[0] in (case_type.value, "case")
        assert step.submission.split(".")[0] == step.event.split(".")[0]
    # the opening steps lead to a status of the lifecycle
    assert opening_steps(lifecycle)
    assert all(isinstance(step.to_status, str) for step in opening_steps(lifecycle))


@pytest.mark.parametrize("case_type", list(CaseType))
def test_every_status_is_reachable_and_every_case_can_end(case_type: CaseType) -> None:
    lifecycle = LIFECYCLES[case_type]
    edges = _graph(lifecycle)
    reached = set()
    for opening in opening_steps(lifecycle):
        assert isinstance(opening.to_status, str)
        reached |= _reachable(edges, opening.to_status)
    assert reached == set(lifecycle.statuses)
    for status in lifecycle.statuses:
        if status not in lifecycle.terminal:
            assert _reachable(edges, status) & lifecycle.terminal, f"{status} cannot end"
