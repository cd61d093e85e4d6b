"""The demo town, Dayong (大涌镇): its officers, its 2019 and 2020, and ``casetrail demo``.

Nothing here is a production default: a real deployment names its own officer directory
(``CASETRAIL_OFFICERS_FILE``); the demo passes this one to the services it starts.
"""

from pathlib import Path

from services.settings import Settings

OFFICERS_FILE = Path(__file__).with_name("officers.json")


def demo_settings(settings: Settings) -> Settings:
    """The settings with the demo town's officers, unless they name a directory of their own."""
    return settings.model_copy(update={"officers_file": settings.officers_file or OFFICERS_FILE})
