"""What the decider knows about one partition it owns, and how it answers one submission.

No I/O here: the runtime feeds in raw records and writes out what ``decide_record`` returns.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from events.errors import Rejection, RejectionCode
from events.lifecycle import CaseState, decide, evolve
from events.model import SUBMISSION, Event, EventRef, Outcome


@dataclass(frozen=True)
class Decision:
    """What to write for one submission record: an outcome (None only for dead letters), the
    events it appends, and, for a record that cannot be read at all, the reason it is dead."""

    outcome: Outcome | None
    events: tuple[Event, ...] = ()
    dead_letter_reason: str | None = None


@dataclass
class PartitionState:
    """Cases and decided submissions of one partition. ``staged_*`` hold the effects of the
    transaction in progress; they become part of the state only when it commits."""

    cases: dict[str, CaseState] = field(default_factory=dict)
    outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict)
    staged_cases: dict[str, CaseState] = field(default_factory=dict)
    staged_outcomes: dict[uuid.UUID, Outcome] = field(default_factory=dict)

    def replay_event(self, event: Event) -> None:
        """Fold one event of the log into the state (used when the partition is taken over)."""
        self.cases[event.case_id] = evolve(self.cases.get(event.case_id), event)
        # The outcome of the submission that wrote this event, rebuilt from the log in case the
        # outcomes topic no longer holds it. The two topics are read interleaved, so the
        # outcome may already be known and list this event.
        previous = self.outcomes.get(event.submission_id)
        known = previous.events if previous else ()
        if any(ref.event_id == event.event_id for ref in known):
            return
        refs = (*known, EventRef(event_id=event.event_id, version=event.version, type=event.type))
        self.outcomes[event.submission_id] = Outcome(
            submission_id=event.submission_id,
            case_id=event.case_id,
            status="accepted",
            events=refs,
            version=event.version,
            decided_at=event.recorded_at,
        )

    def replay_outcome(self, outcome: Outcome) -> None:
        """The outcome as it was published: it wins over one rebuilt from events."""
        self.outcomes[outcome.submission_id] = outcome

    def commit(self) -> None:
        self.cases.update(self.staged_cases)
        self.outcomes.update(self.staged_outcomes)
        self.abort()

    def abort(self) -> None:
        self.staged_cases.clear()
        self.staged_outcomes.clear()

    def decide_record(self, value: bytes | None, now: datetime) -> Decision:
        try:
            submission = SUBMISSION.validate_json(value or b"")
        except ValidationError as error:
            return self._invalid(value, error, now)
        earlier = self.staged_outcomes.get(submission.submission_id) or self.outcomes.get(
            submission.submission_id
        )
        if earlier is not None:
            return Decision(outcome=earlier)  # a re-sent submission: same answer, nothing new

        case_id = submission.case_id
        state = self.staged_cases.get(case_id) or self.cases.get(case_id)
        result = decide(state, submission, now)
        if isinstance(result, Rejection):
            outcome = _rejected(submission.submission_id, case_id, result, state, now)
        else:
            for event in result:
                state = evolve(state, event)
            assert state is not None
            self.staged_cases[case_id] = state
            outcome = Outcome(
                submission_id=submission.submission_id,
                case_id=case_id,
                status="accepted",
                events=tuple(
                    EventRef(event_id=e.event_id, version=e.version, type=e.type) for e in result
                ),
                version=state.version,
                decided_at=now,
            )
        self.staged_outcomes[submission.submission_id] = outcome
        return Decision(outcome=outcome, events=result if isinstance(result, tuple) else ())

    def _invalid(self, value: bytes | None, error: ValidationError, now: datetime) -> Decision:
        """A submission that fails validation is rejected when we can tell whose it is; a record
        we cannot even attribute goes to the dead-letter topic with the reason."""
        message = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc']) or '(body)'}: {detail['msg']}"
            for detail in error.errors(include_url=False)
        )
        try:
            raw: Any = json.loads(value or b"")
            submission_id = uuid.UUID(str(raw["submission_id"]))
            case_id = str(raw["case_id"])
        except (ValueError, TypeError, KeyError):
            return Decision(outcome=None, dead_letter_reason=message)
        current = self.staged_cases.get(case_id) or self.cases.get(case_id)
        rejection = Rejection(code=RejectionCode.INVALID_PAYLOAD, message=message)
        outcome = _rejected(submission_id, case_id, rejection, current, now)
        return Decision(outcome=outcome)


def _rejected(
    submission_id: uuid.UUID,
    case_id: str,
    rejection: Rejection,
    state: CaseState | None,
    now: datetime,
) -> Outcome:
    return Outcome(
        submission_id=submission_id,
        case_id=case_id,
        status="rejected",
        code=rejection.code,
        message=rejection.message,
        version=state.version if state is not None else 0,
        decided_at=now,
    )
