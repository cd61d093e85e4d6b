"""Case lifecycles as pure functions: ``decide`` turns a submission into events or a rejection,
``evolve`` folds an event into the case's state."""

import uuid
from datetime import datetime
from typing import Any

from events.errors import Rejection, RejectionCode
from events.hashing import GENESIS_HASH
from events.model import (
    AcceptPetition,
    CaseType,
    Event,
    Frozen,
    RegisterPetition,
    SubmissionBase,
)


class CaseState(Frozen):
    case_id: str
    case_type: CaseType
    version: int
    status: str
    department: str
    last_hash: str


class Step(Frozen):
    """One submission type: which case type, from which statuses, the event it records, and the
    status it leaves the case in. ``allowed_from`` empty means the step opens a new case."""

    case_type: CaseType
    allowed_from: frozenset[str]
    event_type: str
    status_after: str


STEPS: dict[str, Step] = {
    "petition.register": Step(
        case_type=CaseType.PETITION,
        allowed_from=frozenset(),
        event_type="petition.registered",
        status_after="registered",
    ),
    "petition.accept": Step(
        case_type=CaseType.PETITION,
        allowed_from=frozenset({"registered"}),
        event_type="petition.accepted",
        status_after="accepted",
    ),
}
STATUS_AFTER_EVENT = {step.event_type: step.status_after for step in STEPS.values()}


def decide(
    state: CaseState | None,
    submission: RegisterPetition | AcceptPetition,
    recorded_at: datetime,
) -> tuple[Event, ...] | Rejection:
    step = STEPS[submission.type]
    opens_case = not step.allowed_from
    if state is None and not opens_case:
        return Rejection(
            code=RejectionCode.UNKNOWN_CASE,
            message=f"case {submission.case_id} does not exist; register it first",
        )
    if state is not None and opens_case:
        return Rejection(
            code=RejectionCode.CASE_EXISTS,
            message=f"case {submission.case_id} already exists (version {state.version})",
        )
    version = state.version if state is not None else 0
    if submission.expected_version is not None and submission.expected_version != version:
        return Rejection(
            code=RejectionCode.VERSION_CONFLICT,
            message=(
                f"expected_version {submission.expected_version} but case "
                f"{submission.case_id} is at version {version}"
            ),
        )
    if state is not None:
        if state.case_type != step.case_type:
            return Rejection(
                code=RejectionCode.WRONG_CASE_TYPE,
                message=f"{submission.type} does not apply to a {state.case_type} case",
            )
        if state.status not in step.allowed_from:
            return Rejection(
                code=RejectionCode.ILLEGAL_TRANSITION,
                message=(
                    f"{submission.type} is not allowed while case {submission.case_id} is "
                    f"'{state.status}' (allowed from: {', '.join(sorted(step.allowed_from))})"
                ),
            )
    return (
        _record(
            state,
            submission,
            step.case_type,
            step.event_type,
            submission.payload.model_dump(mode="json"),
            recorded_at,
        ),
    )


def evolve(state: CaseState | None, event: Event) -> CaseState:
    return CaseState(
        case_id=event.case_id,
        case_type=event.case_type,
        version=event.version,
        status=STATUS_AFTER_EVENT[event.type],
        department=state.department if state is not None else event.department,
        last_hash=event.hash,
    )


def event_id_for(submission_id: uuid.UUID, index: int) -> uuid.UUID:
    """Event ids derive from the submission, so deciding the same submission twice gives the same
    ids: a duplicate can never pass as a new event."""
    return uuid.uuid5(submission_id, str(index))


def _record(
    state: CaseState | None,
    submission: SubmissionBase,
    case_type: CaseType,
    event_type: str,
    payload: dict[str, Any],
    recorded_at: datetime,
) -> Event:
    fields: dict[str, Any] = {
        "event_id": event_id_for(submission.submission_id, 0),
        "case_id": submission.case_id,
        "case_type": case_type,
        "version": (state.version if state is not None else 0) + 1,
        "type": event_type,
        "occurred_at": submission.occurred_at,
        "recorded_at": recorded_at,
        "actor": submission.actor,
        "department": submission.actor.department,
        "submission_id": submission.submission_id,
        "correlation_id": submission.correlation_id or submission.submission_id,
        "causation_id": submission.submission_id,
        "payload": payload,
        "prev_hash": state.last_hash if state is not None else GENESIS_HASH,
        "hash": GENESIS_HASH,  # placeholder: the hash covers every other field
    }
    unhashed = Event.model_validate(fields)
    return unhashed.model_copy(update={"hash": unhashed.computed_hash()})
