"""The officer directory the decider decides with: a JSON file, or the demo town's by default."""

import json
import logging
from importlib import resources
from pathlib import Path

from pydantic import TypeAdapter

from events.officers import Officer

log = logging.getLogger("casetrail.officers")
_OFFICERS = TypeAdapter(list[Officer])


def load_officers(path: Path | None) -> dict[str, Officer]:
    """Officers by id from ``path`` ({"officers": [...]}); without a path, the demo directory."""
    if path is None:
        log.warning("no CASETRAIL_OFFICERS_FILE: deciding with the demo town's officers")
        text = resources.files("services").joinpath("demo_officers.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    officers = _OFFICERS.validate_python(json.loads(text)["officers"])
    return {officer.officer_id: officer for officer in officers}
