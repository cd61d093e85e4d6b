"""A case's state (the fold of its events) and what deciding needs besides it."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from events.deadlines import DEFAULT_RULES, Clock, ClockRule, Light, worst
from events.model import (
    Actor,
    CaseType,
    Event,
    Frozen,
    SortedInts,
    SortedStrings,
    VouchedBy,
)
from events.officers import Officer
from events.suite import Suite


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
    signals: SortedStrings = frozenset()
    """Deadline warnings and breaches the system clock recorded, as "clock:light:start+period"
    (the period's first day and its length with its extensions and suspensions: a clock started
    afresh or a longer period is a new deadline, which can be signalled again)."""
    links: SortedStrings = frozenset()
    """The links recorded on this case, as "kind:other case id" (not those recorded on the other
    case: the decider sees one case's events only)."""
    subjects: SortedStrings = frozenset()
    """The data subjects whose personal data the case's events hold sealed (their ids only)."""
    erased_subjects: SortedStrings = frozenset()
    """...of which these were erased (``case.personal_data_erased``)."""
    recorded: SortedStrings = frozenset()
    """Every event type the case has recorded, at least once: rules that ask whether a step was
    ever taken (a mediation is closed only after its follow-up, whatever came after it)."""
    supervision_notes: SortedInts = frozenset()
    """The case versions of its supervision notes (督办), each awaiting its answer until..."""
    supervision_answered: SortedInts = frozenset()
    """...its version is here."""
    major: bool = False
    legal_review_approved: bool = False
    penalty_amount_fen: int = 0
    anonymous: bool = False
    """Complaints: registered without any person (匿名举报): there may be no one to reply to."""
    replied: bool = False
    """Complaints: a reply was given to the complainant (a follow-up visit asks about it)."""
    opinion_department: str | None = None
    """Petitions: the handling office, which issued the written opinion (处理意见)."""
    reply_department: str | None = None
    """Petitions: who issued the latest written reply (the opinion, or a review's opinion)."""
    reply_received_on: date | None = None
    """Petitions: the day the petitioner received that reply; a review may be asked within 30
    days of it."""
    review_level: int = 0
    """Petitions: 1 once a review (复查) was asked, 2 once a second review (复核) was."""
    reviewer_department: str | None = None
    """Petitions: the reviewing body of the review under way, or of the last one made."""
    correction_due: date | None = None
    """While an information-disclosure request waits for its correction: the last day given
    (补正期限), after which it is deemed withdrawn."""
    third_party_objected: bool = False
    """Whether a third party consulted on an information-disclosure request objected."""
    # Enforcement: what later steps' rules need to know of earlier ones (instants are when the
    # step happened; None: not yet, or never recorded by the older events of a case).
    complex: bool = False
    """The review found the case complex (情节复杂): a penalty needs a collective discussion."""
    collective_discussion: bool = False
    """The department heads discussed the case after the party was notified (集体讨论)."""
    testing_since: datetime | None = None
    """Testing or appraisal (检测、检验、检疫、鉴定) is running since then."""
    notified_at: datetime | None = None
    """When the party was last notified of the intended penalty (告知)."""
    noticed_amount_fen: int | None = None
    """The fine that notice intended: the decision may not be heavier."""
    statement_given: bool = False
    statement_waived: bool = False
    penalty_decided: bool = False
    """A decision to penalise was made (not a decision not to penalise)."""
    served_at: datetime | None = None
    demanded_at: datetime | None = None
    """When the demand to pay (催告) was served."""
    late_fine_fen: int = 0
    """The late-payment fine (加处罚款) the demand named."""
    appeal_period_over_at: datetime | None = None
    """When the office recorded that the periods for review and suit ended without either."""
    published: bool = False
    """The decision's publication (公示), or why it is not published, is recorded."""

    def clock(self, name: str) -> Clock | None:
        return next((c for c in self.clocks if c.rule == name), None)

    def awaiting_answer(self) -> frozenset[int]:
        """The supervision notes not answered yet, by case version."""
        return self.supervision_notes - self.supervision_answered

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
    actor: Actor | None = None
    """Who takes the step, once ``decide`` has authorised them (rules that count people need it)."""
    suite: Suite = field(kw_only=True)
    """The log's cryptographic suite: which hash chains the case's events."""
    seal: Callable[[Event], Event] | None = None
    """What the shell does to an event before it is hashed into the case (the decider seals its
    personal data); None: nothing. ``decide`` folds the event as it is returned."""
