"""What a lifecycle table is made of: steps, and a lifecycle that holds them."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.errors import Rejection
from events.model import CaseType, Frozen
from events.officers import Role
from events.state import CaseState, Context

Check = Callable[[CaseState, Any, Context, datetime], Rejection | None]
"""A rule beyond the transition table: (state, payload, context, occurred_at) → rejection."""
Effect = Callable[[CaseState, Any], dict[str, Any]]
"""State fields an event changes besides its status: (state, payload) → updates."""
NextStatus = Callable[[CaseState, Any], str]
ActingDepartment = Callable[[CaseState, Any], str | None]
"""The one department that may take a step whoever owns the case: (state, payload) → department,
or None when the step follows ``owner_only``."""


@dataclass(frozen=True)
class Step:
    """One step a department may record: submission ``submission`` records event ``event``."""

    submission: str
    event: str
    title: str
    payload: type[Frozen]
    allowed_from: frozenset[str]
    """Statuses the step may be taken from; empty for the step that opens a case."""
    to_status: str | NextStatus | None = None
    """The status after the step (None: unchanged)."""
    roles: frozenset[Role] = frozenset()
    """Roles that may take it; empty means the case type's working role."""
    owner_only: bool = True
    """Only the department that owns the case may take it."""
    check: Check | None = None
    """Rules of the step beyond its table row, run when the status allows it."""
    explain: Check | None = None
    """Run when the status does not allow the step: a more precise reason, if there is one, than
    illegal_transition (e.g. closing before the reply was given: reply_required)."""
    effect: Effect | None = None
    acting_department: ActingDepartment | None = None
    """When it names a department, only that department's officers may take the step, instead of
    the owner's: an act the law gives to another body (a petition review: the reviewing body)."""
    acting_department_is: str = ""
    """Who that department is, in words, for the published tables."""
    stamps: str | None = None
    """A state field set to when the step happened, for rules that count from it (the notice's
    window, the payment period after service)."""
    leads_to: tuple[str, ...] = ()
    """For a computed ``to_status``: the statuses it can give (documentation only)."""

    @property
    def opens_case(self) -> bool:
        return not self.allowed_from


@dataclass(frozen=True)
class Lifecycle:
    case_type: CaseType
    title: str
    working_role: Role
    needs_certificate: bool
    """Whether the working role's steps need a valid enforcement certificate."""
    statuses: tuple[str, ...]
    terminal: frozenset[str]
    steps: tuple[Step, ...]
    status_titles: Mapping[str, str]
    """Every status's label, "中文 / English", as the dashboard and the documents show it."""
    refused: frozenset[str] = frozenset()
    """Terminal statuses that mean the case was never taken up (不予受理, 不予立案): statistics
    count closure over the cases accepted, not over these."""
    awaiting: frozenset[str] = frozenset()
    """Open statuses before the office decided whether to take the case up (registered, a case
    source not yet filed, an application): such a case is not accepted yet, nor refused."""
    by_submission: dict[str, Step] = field(init=False, repr=False)
    by_event: dict[str, Step] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        untitled = set(self.statuses) - set(self.status_titles)
        if untitled:
            raise ValueError(f"{self.case_type}: statuses without a title: {sorted(untitled)}")
        if not self.refused <= self.terminal:
            raise ValueError(f"{self.case_type}: refused statuses must be terminal")
        if not self.awaiting <= self.open_statuses():
            raise ValueError(f"{self.case_type}: awaiting statuses must be open ones")
        object.__setattr__(self, "by_submission", {s.submission: s for s in self.steps})
        object.__setattr__(self, "by_event", {s.event: s for s in self.steps})

    def roles_for(self, step: Step) -> frozenset[Role]:
        return step.roles or frozenset({self.working_role})

    def open_statuses(self) -> frozenset[str]:
        return frozenset(self.statuses) - self.terminal - {"suspended"}
