"""Every projection CaseTrail maintains, and their tables."""

from projections.audit_trail import AuditTrail
from projections.base import Connection, Projection, create_tables
from projections.case_summary import CaseSummary
from projections.runtime import CHECKPOINT_DDL

PROJECTIONS: tuple[Projection, ...] = (CaseSummary(), AuditTrail())


async def ensure_schema(conn: Connection) -> None:
    """Create every projection's tables if missing, so readers can start before the projector."""
    await create_tables(conn, CHECKPOINT_DDL + "".join(p.ddl for p in PROJECTIONS))
