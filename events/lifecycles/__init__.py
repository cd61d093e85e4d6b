"""The five lifecycles of DOMAIN.md as data: statuses, steps, who may take them, extra rules.

One module per case type (``complaint``, ``petition``, ``mediation``, ``enforcement``,
``disclosure``); the
steps every case shares are in ``shared``; what a step and a lifecycle are is in ``table``.
Everything else (decide and evolve, the contract, the schemas) is generated from these tables.
"""

from events.lifecycles.complaint import COMPLAINT
from events.lifecycles.disclosure import DISCLOSURE
from events.lifecycles.enforcement import ENFORCEMENT
from events.lifecycles.mediation import MEDIATION
from events.lifecycles.petition import PETITION
from events.lifecycles.table import Lifecycle, Step
from events.model import CaseType, Frozen

__all__ = ["LIFECYCLES", "OPENING_STEPS", "Lifecycle", "Step"]

LIFECYCLES: dict[CaseType, Lifecycle] = {
    lc.case_type: lc for lc in (COMPLAINT, PETITION, MEDIATION, ENFORCEMENT, DISCLOSURE)
}
OPENING_STEPS: dict[str, tuple[Lifecycle, Step]] = {
    step.submission: (lc, step)
    for lc in LIFECYCLES.values()
    for step in lc.steps
    if step.opens_case
}
SUBMISSION_PAYLOADS: dict[str, type[Frozen]] = {
    step.submission: step.payload for lc in LIFECYCLES.values() for step in lc.steps
}
EVENT_PAYLOADS: dict[str, type[Frozen]] = {
    step.event: step.payload for lc in LIFECYCLES.values() for step in lc.steps
}
