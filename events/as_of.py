"""History as of a past instant: which events count, and a case replayed up to then.

An instant can be read two ways: as the log stood then (``recorded``: what had been recorded by
then) or as things had happened by then (``occurred``: late entries included). A case's events
count in order up to the first that had not happened (or been recorded) yet.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from events.decide import fold
from events.model import Event
from events.state import CaseState


class Basis(StrEnum):
    RECORDED = "recorded"
    OCCURRED = "occurred"


def happened_by(event: Event, instant: datetime, basis: Basis) -> bool:
    moment = event.recorded_at if basis is Basis.RECORDED else event.occurred_at
    return moment <= instant


@dataclass(frozen=True)
class Replay:
    events: Sequence[Event]
    counted: int
    """How many of the events had happened (or been recorded) by the instant."""
    state: CaseState | None


def replay(events: Sequence[Event], as_of: datetime | None, basis: Basis) -> Replay:
    """A case's events (in version order) folded up to ``as_of`` (None: all of them)."""
    counted = len(events)
    if as_of is not None:
        counted = next(
            (i for i, event in enumerate(events) if not happened_by(event, as_of, basis)),
            len(events),
        )
    return Replay(events, counted, fold(events[:counted]))
