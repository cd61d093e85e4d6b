"""A case's state (the fold of its events) and what deciding needs besides it."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from events.deadlines import DEFAULT_RULES, Clock, ClockRule, Light, worst
from events.model import CaseType, Frozen, VouchedBy
from events.officers import Officer


class CaseState(Frozen):
    """What the log says about one case: the fold of its events with ``evolve``."""

    case_id: str
    case_type: CaseType
    version: int
    status: str
    owner_department: str
    assigned_officer: str | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    last_occurred_at: datetime
    """When the latest step happened: a new step cannot have happened before it."""
    last_hash: str
    suspended_from: str | None = None
    """The status to return to on resumption, while the case is suspended."""
    clocks: tuple[Clock, ...] = ()
    """Every open deadline."""
    signals: frozenset[str] = frozenset()
    """Deadline warnings and breaches the system clock recorded, as "clock:light:period" (the
    period's length with its extensions and suspensions: a longer period is a new deadline,
    which can be signalled again)."""
    links: frozenset[str] = frozenset()
    """The links recorded on this case, as "kind:other case id" (not those recorded on the other
    case: the decider sees one case's events only)."""
    major: bool = False
    legal_review_approved: bool = False
    penalty_amount_fen: int = 0

    def clock(self, name: str) -> Clock | None:
        return next((c for c in self.clocks if c.rule == name), None)

    def light(self, at: datetime) -> Light | None:
        """The worst light of the open deadlines at ``at``; None when no clock runs."""
        return worst(clock.light(at) for clock in self.clocks)


@dataclass(frozen=True)
class Context:
    """What deciding needs besides the state and the submission."""

    recorded_at: datetime
    officers: Mapping[str, Officer]
    rules: tuple[ClockRule, ...] = DEFAULT_RULES
    vouched_by: VouchedBy | None = None
    """Whose signature the decider checked on this submission (recorded in its events)."""
