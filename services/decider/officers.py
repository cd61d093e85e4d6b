"""The officer directory the decider decides with: a JSON file ({"officers": [...]})."""

import json
from pathlib import Path

from events.officers import Officer, directory


class NoOfficers(RuntimeError):
    """The decider has no officer directory to decide with."""


def load_officers(path: Path | None) -> dict[str, Officer]:
    """Officers by id from ``path``. Deciding needs the town's own directory: without one the
    decider refuses to start rather than decide with anybody else's (the demo passes its own)."""
    if path is None:
        raise NoOfficers(
            "CASETRAIL_OFFICERS_FILE is not set: point it at the town's officer directory"
            ' (JSON: {"officers": [...]}; the demo\'s is services/demo/officers.json)'
        )
    try:
        return directory(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise NoOfficers(f"cannot read the officer directory {path}: {error}") from error
