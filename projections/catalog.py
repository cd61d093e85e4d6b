"""Every projection CaseTrail maintains."""

import asyncpg

from projections import builds
from projections.projection import Projection
from projections.read_models.audit_trail import AuditTrail
from projections.read_models.cases import Cases
from projections.read_models.officer_activity import OfficerActivity

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (Cases(), AuditTrail(), OfficerActivity())}


async def ensure_schema(pool: asyncpg.Pool) -> None:
    """A live build of every projection, so that readers can start before the projector."""
    for projection in PROJECTIONS.values():
        await builds.ensure_live(pool, projection)
