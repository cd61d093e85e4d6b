"""Every projection CaseTrail maintains, and their tables."""

import asyncpg

from projections.audit_trail import AuditTrail
from projections.base import Projection
from projections.case_summary import CaseSummary
from projections.runtime import CHECKPOINT_DDL

PROJECTIONS: tuple[Projection, ...] = (CaseSummary(), AuditTrail())


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """Create every projection's tables if missing, so readers can start before the projector."""
    await conn.execute(CHECKPOINT_DDL + "".join(p.ddl for p in PROJECTIONS))
