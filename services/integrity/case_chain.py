"""One case's hash chain, checked from its audit-trail rows: the quick check that
``GET /cases/{id}/chain`` shows as a badge (``casetrail verify`` checks the log itself)."""

from collections.abc import Sequence

from events.hashing import GENESIS_HASH
from events.model import Event
from events.suite import Suite


def broken_links(events: Sequence[Event], suite: Suite) -> list[int]:
    """The versions whose hash is not over their event (by the log's ``suite``), or whose
    prev_hash is not the hash before."""
    previous, broken = GENESIS_HASH, []
    for event in events:
        if event.computed_hash(suite) != event.hash or event.prev_hash != previous:
            broken.append(event.version)
        previous = event.hash
    return broken
