"""The demo town, Dayong (大涌镇): its officers, its 2019 and 2020, and ``casetrail demo``.

Nothing here is a production default: a real deployment names its own officer directory
(``CASETRAIL_OFFICERS_FILE``); the demo passes this one to the services it starts.
"""

from pathlib import Path

OFFICERS_FILE = Path(__file__).with_name("officers.json")
