"""Helpers for the domain tests: an officer directory, submissions, and a hash-chain verifier.

The directory is built here, not read from the demo file, so that the tests do not change when
the demo town's officers do.
"""

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from events.calendar import CHINA
from events.decide import decide, evolve, fold
from events.errors import Rejection, RejectionCode
from events.hashing import GENESIS_HASH
from events.lifecycles import SUBMISSION_PAYLOADS
from events.model import Event
from events.officers import SYSTEM_CLOCK_ID, Certificate, Officer, Role
from events.state import CaseState, Context
from events.submissions import SubmissionBase, parse_submission
from tests.signing import SUITE

# --- the officer directory ----------------------------------------------------------------------

XF = "信访办"
ZX = "综治中心"
ZF = "综合行政执法办"
SC = "市场监管分局"
FZ = "司法所"
TJ = "人民调解委员会"
DC = "督查室"
CITY_XF = "中山市信访局"
"""The authority above the town's offices: it reviews their petition opinions (复查)."""
CITY_GOV = "中山市人民政府"
"""The authority above 中山市信访局: it makes the second review (复核)."""
DZ = "党政办"


def _officer(
    officer_id: str,
    department: str,
    *roles: Role,
    certificate: tuple[str, date, date] | None = None,
) -> Officer:
    cert = None
    if certificate is not None:
        number, valid_from, valid_until = certificate
        cert = Certificate(number=number, valid_from=valid_from, valid_until=valid_until)
    return Officer(
        officer_id=officer_id,
        name=f"officer {officer_id}",
        department=department,
        roles=frozenset(roles),
        certificate=cert,
    )


PETITION_OFFICER = "DY-XF-01"
"""An officer of 信访办, who registers complaints and petitions."""
PETITION_OFFICER_2 = "DY-XF-02"
OTHER_OFFICER = "DY-ZX-01"
"""An officer of another department (综治中心)."""
ENFORCER = "DY-ZF-03"
"""An enforcement officer of 综合行政执法办 with a certificate valid 2018-03-01 to 2023-02-28."""
ENFORCER_2 = "DY-ZF-06"
MARKET_ENFORCER = "DY-SC-07"
"""An officer and certified enforcement officer of 市场监管分局."""
MARKET_ENFORCER_2 = "DY-SC-08"
"""A second certified enforcement officer of 市场监管分局 (investigative acts need two)."""
EXPIRED_ENFORCER = "DY-ZF-04"
"""An enforcement officer whose certificate expired on 2020-06-30."""
UNCERTIFIED_ENFORCER = "DY-ZF-05"
"""An officer holding the enforcement role but no certificate."""
LEGAL_REVIEWER = "DY-FZ-01"
MEDIATOR = "DY-TJ-01"
MEDIATOR_2 = "DY-TJ-02"
SUPERVISOR = "DY-DC-01"
REVIEWER = "ZS-XF-01"
"""An officer of 中山市信访局 (CITY_XF), who records reviews (复查)."""
SECOND_REVIEWER = "ZS-ZF-01"
"""An officer of 中山市人民政府 (CITY_GOV), who records second reviews (复核)."""
DISCLOSURE_OFFICER = "DY-DZ-01"
PRIVACY_OFFICER = "DY-DZ-02"
"""An officer of 党政办, the town office that registers and answers disclosure requests."""

EXPIRY = date(2020, 6, 30)

OFFICERS: dict[str, Officer] = {
    o.officer_id: o
    for o in (
        _officer(PETITION_OFFICER, XF, Role.OFFICER),
        _officer(PETITION_OFFICER_2, XF, Role.OFFICER),
        _officer(OTHER_OFFICER, ZX, Role.OFFICER),
        _officer(
            ENFORCER,
            ZF,
            Role.ENFORCEMENT_OFFICER,
            certificate=("44200120180003", date(2018, 3, 1), date(2023, 2, 28)),
        ),
        _officer(
            ENFORCER_2,
            ZF,
            Role.ENFORCEMENT_OFFICER,
            certificate=("44200120190006", date(2019, 1, 1), date(2024, 12, 31)),
        ),
        _officer(
            MARKET_ENFORCER,
            SC,
            Role.OFFICER,
            Role.ENFORCEMENT_OFFICER,
            certificate=("44200120190007", date(2019, 1, 1), date(2023, 12, 31)),
        ),
        _officer(
            MARKET_ENFORCER_2,
            SC,
            Role.ENFORCEMENT_OFFICER,
            certificate=("44200120200008", date(2020, 1, 1), date(2025, 12, 31)),
        ),
        _officer(
            EXPIRED_ENFORCER,
            ZF,
            Role.ENFORCEMENT_OFFICER,
            certificate=("44200120150004", date(2015, 7, 1), EXPIRY),
        ),
        _officer(UNCERTIFIED_ENFORCER, ZF, Role.ENFORCEMENT_OFFICER),
        _officer(LEGAL_REVIEWER, FZ, Role.LEGAL_REVIEWER),
        _officer(MEDIATOR, TJ, Role.MEDIATOR),
        _officer(MEDIATOR_2, TJ, Role.MEDIATOR),
        _officer(SUPERVISOR, DC, Role.SUPERVISOR),
        _officer(REVIEWER, CITY_XF, Role.OFFICER),
        _officer(SECOND_REVIEWER, CITY_GOV, Role.OFFICER),
        _officer(DISCLOSURE_OFFICER, DZ, Role.OFFICER),
        _officer(PRIVACY_OFFICER, DZ, Role.PRIVACY_OFFICER),
    )
}

DEPARTMENTS: tuple[str, ...] = (XF, ZX, ZF, SC, FZ, TJ, DC, CITY_XF, CITY_GOV, DZ)

WORKING_ROLE_OFFICER: dict[str, str] = {
    "complaint": PETITION_OFFICER,
    "petition": PETITION_OFFICER,
    "mediation": MEDIATOR,
    "enforcement": ENFORCER,
    "disclosure": DISCLOSURE_OFFICER,
}
"""Who opens and works a case of each type in the tests."""


def actor(
    officer_id: str, role: str | None = None, department: str | None = None
) -> dict[str, Any]:
    """The actor of a submission: an officer of the directory as they are, unless overridden."""
    officer = OFFICERS.get(officer_id)
    default_role = sorted(officer.roles)[0] if officer is not None else Role.OFFICER
    if officer is not None and Role.ENFORCEMENT_OFFICER in officer.roles:
        default_role = Role.ENFORCEMENT_OFFICER
    return {
        "officer_id": officer_id,
        "role": str(role or default_role),
        "department": department or (officer.department if officer is not None else XF),
    }


SYSTEM: dict[str, Any] = {"officer_id": SYSTEM_CLOCK_ID, "role": "system", "department": "系统"}
"""The system clock as the actor of deadline warnings and breaches."""


# --- time ---------------------------------------------------------------------------------------


def china(year: int, month: int, day: int, hour: int = 9, minute: int = 30) -> datetime:
    """An instant in China time."""
    return datetime(year, month, day, hour, minute, tzinfo=CHINA)


# --- payloads -----------------------------------------------------------------------------------


def example_payload(submission_type: str, **overrides: Any) -> dict[str, Any]:
    """A valid payload for a step, made from the examples of its model's fields."""
    model: type[BaseModel] = SUBMISSION_PAYLOADS[submission_type]
    payload: dict[str, Any] = {
        name: info.examples[0] for name, info in model.model_fields.items() if info.examples
    }
    payload.update(overrides)
    return payload


# --- deciding -----------------------------------------------------------------------------------

CASE_ID = "CASE-2020-0001"


def submission(
    case_id: str,
    type_: str,
    payload: dict[str, Any] | None,
    *,
    actor: dict[str, Any],
    occurred_at: datetime,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """The submission as a department sends it (payload None: left out)."""
    raw: dict[str, Any] = {
        "type": type_,
        "submission_id": str(uuid.uuid4()),
        "case_id": case_id,
        "actor": actor,
        "occurred_at": occurred_at.isoformat(),
    }
    if payload is not None:
        raw["payload"] = payload
    if expected_version is not None:
        raw["expected_version"] = expected_version
    return raw


def parsed(raw: dict[str, Any]) -> SubmissionBase:
    result = parse_submission(raw)
    assert not isinstance(result, Rejection), result
    return result


def parse_rejection(
    type_: str,
    payload: dict[str, Any] | None,
    *,
    actor: dict[str, Any],
    occurred_at: datetime,
    case_id: str = CASE_ID,
) -> Rejection:
    """A submission that must not even parse: its rejection."""
    result = parse_submission(
        submission(case_id, type_, payload, actor=actor, occurred_at=occurred_at)
    )
    assert isinstance(result, Rejection), f"{type_} parsed: {result}"
    return result


def submit(
    state: CaseState | None,
    type_: str,
    payload: dict[str, Any] | None = None,
    *,
    actor: dict[str, Any],
    occurred_at: datetime,
    expected_version: int | None = None,
    case_id: str | None = None,
    recorded_at: datetime | None = None,
    officers: dict[str, Officer] | None = None,
) -> tuple[Event, ...] | Rejection:
    """Parse a submission (it must parse) and decide it against ``state``."""
    raw = submission(
        case_id or (state.case_id if state is not None else CASE_ID),
        type_,
        payload,
        actor=actor,
        occurred_at=occurred_at,
        expected_version=expected_version,
    )
    ctx = Context(
        recorded_at=recorded_at or occurred_at, officers=officers or OFFICERS, suite=SUITE
    )
    return decide(state, parsed(raw), ctx)


def accepted(
    state: CaseState | None,
    type_: str,
    payload: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[CaseState, Event]:
    """Submit a step that must be accepted; the new state and the one event it recorded."""
    result = submit(state, type_, payload, **kwargs)
    assert not isinstance(result, Rejection), f"{type_} rejected: {result}"
    assert len(result) == 1
    return evolve(state, result[0]), result[0]


def rejected(
    state: CaseState | None,
    type_: str,
    payload: dict[str, Any] | None,
    code: RejectionCode,
    **kwargs: Any,
) -> Rejection:
    """Submit a step that must be rejected with ``code``; the rejection."""
    result = submit(state, type_, payload, **kwargs)
    assert isinstance(result, Rejection), f"{type_} was accepted: {result}"
    assert result.code is code, result
    return result


@dataclass(frozen=True)
class Action:
    """One step of a scenario: ``run`` submits it and requires it to be accepted."""

    type: str
    actor: str | dict[str, Any]
    at: datetime
    payload: dict[str, Any] | None = field(default=None)

    def actor_fields(self) -> dict[str, Any]:
        return actor(self.actor) if isinstance(self.actor, str) else self.actor


def run(
    actions: Iterable[Action], state: CaseState | None = None, case_id: str = CASE_ID
) -> tuple[CaseState, list[Event]]:
    """Submit every action in order (each must be accepted); the final state and the events."""
    start = state
    events: list[Event] = []
    for action in actions:
        state, event = accepted(
            state,
            action.type,
            action.payload,
            actor=action.actor_fields(),
            occurred_at=action.at,
            case_id=case_id,
        )
        events.append(event)
    assert state is not None, "run needs at least one action"
    if start is None:
        assert fold(events) == state, "folding the events must give the state decided from"
    return state, events


def on_duty(*officer_ids: str) -> list[dict[str, str]]:
    """``payload.officers`` of an investigative act: the officers named, with their certificates."""
    named = []
    for officer_id in officer_ids:
        certificate = OFFICERS[officer_id].certificate
        assert certificate is not None, officer_id
        named.append({"officer_id": officer_id, "certificate": certificate.number})
    return named


def example(type_: str, who: str | dict[str, Any], at: datetime, **overrides: Any) -> Action:
    """A step with the example payload of its model (``overrides`` changed)."""
    return Action(type_, who, at, example_payload(type_, **overrides))


REGISTER_COMPLAINT = example("complaint.register", PETITION_OFFICER, china(2020, 9, 24))
"""The complaint most tests start from: registered on Thu 2020-09-24 by PETITION_OFFICER…"""
ACCEPT_COMPLAINT = Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25))
"""…and accepted the next day: the reply is due by Thu 2020-10-22 (15 working days)."""


def state_after(actions: Sequence[Action]) -> CaseState | None:
    """The state a case reaches by ``actions`` (each must be accepted); None without actions."""
    return run(actions)[0] if actions else None


def walk(
    stages: Sequence[tuple[Action, str, str, Sequence[str]]],
) -> tuple[list[CaseState], list[Event]]:
    """Open a case and take each step (each must be accepted); every state on the way, the events.

    A stage is a step, the event it records, the status it leads to and the clocks then running
    (in order). After each step: those, the version and the last hash, and no closing time before
    the status "closed", which closes the case at the time of its step. At the end the events are
    one valid history (``assert_history``) whose fold is the last state.
    """
    state: CaseState | None = None
    states: list[CaseState] = []
    events: list[Event] = []
    for action, event_type, status, clocks in stages:
        state, event = take(state, action)
        events.append(event)
        states.append(state)
        assert event.type == event_type, action.type
        assert state.status == status, action.type
        assert [c.rule for c in state.clocks] == list(clocks), status
        assert state.version == len(events)
        assert state.last_hash == event.hash
        assert state.closed_at == (action.at if status == "closed" else None), status
    assert_history(events, [event_type for _, event_type, _, _ in stages])
    assert fold(events) == state
    return states, events


def due(state: CaseState, clock: str) -> date:
    """The due day of a running clock."""
    found = state.clock(clock)
    assert found is not None, f"{clock} is not running"
    return found.due_day()


def take(state: CaseState | None, step: Action, **kwargs: Any) -> tuple[CaseState, Event]:
    """Take ``step``, which must be accepted: the new state and its event.

    ``kwargs`` go to ``submit`` (expected_version, case_id, recorded_at).
    """
    return accepted(
        state,
        step.type,
        step.payload,
        actor=step.actor_fields(),
        occurred_at=step.at,
        **kwargs,
    )


def end(state: CaseState, step: Action, event_type: str, status: str) -> tuple[CaseState, Event]:
    """Take a step that ends the case: it records ``event_type`` and leads to ``status``, the case
    is closed at the step's time and no clock runs. The new state and the event."""
    state, event = take(state, step)
    assert event.type == event_type
    assert state.status == status
    assert state.closed_at == step.at
    assert state.clocks == ()
    return state, event


def _assert_says(refused: Rejection, says: Iterable[str]) -> None:
    for text in says:
        assert text in refused.message, f"{text!r} is not in the message: {refused.message}"


def refuse(
    state: CaseState | None, step: Action, code: RejectionCode, *says: str, **kwargs: Any
) -> Rejection:
    """``step`` must be refused with ``code``, by a message that names each of ``says``.

    ``kwargs`` go to ``submit`` (expected_version, case_id, recorded_at).
    """
    refused = rejected(
        state,
        step.type,
        step.payload,
        code,
        actor=step.actor_fields(),
        occurred_at=step.at,
        **kwargs,
    )
    _assert_says(refused, says)
    return refused


def refuse_to_parse(
    step: Action, code: RejectionCode, *says: str, case_id: str = CASE_ID
) -> Rejection:
    """``step`` must not even parse: refused with ``code``, by a message naming each of ``says``."""
    refused = parse_rejection(
        step.type, step.payload, actor=step.actor_fields(), occurred_at=step.at, case_id=case_id
    )
    assert refused.code is code, refused
    _assert_says(refused, says)
    return refused


# --- the hash chain -----------------------------------------------------------------------------


def verify_chain(events: Sequence[Event], head: str | None = None) -> bool:
    """Whether ``events`` are one case's whole history, untouched and in order.

    Each event's hash is its computed hash, its prev_hash the previous event's hash (the genesis
    hash first), versions run 1..n, and every event is of the same case. A truncated tail keeps a
    valid chain: pass the last known ``head`` hash to detect it.
    """
    previous = GENESIS_HASH
    for number, event in enumerate(events, start=1):
        if event.case_id != events[0].case_id or event.version != number:
            return False
        if event.prev_hash != previous or event.computed_hash(suite=SUITE) != event.hash:
            return False
        previous = event.hash
    return head is None or previous == head


def is_past_tense(event_type: str) -> bool:
    """Whether the last part of a dotted event name is in the past tense (…ed, held, made)."""
    words = event_type.rsplit(".", 1)[-1].split("_")
    return any(word.endswith("ed") or word in {"held", "made"} for word in words)


def assert_history(events: Sequence[Event], types: Sequence[str]) -> None:
    """The events are exactly ``types``, versions 1..n, past tense, one valid hash chain."""
    assert [e.type for e in events] == list(types)
    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert all(is_past_tense(e.type) for e in events), [e.type for e in events]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert all(e.computed_hash(suite=SUITE) == e.hash for e in events)
    assert verify_chain(events)
