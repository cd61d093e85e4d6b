"""The access log: who read whose personal data, and when."""

from typing import Any

from fastapi import APIRouter

from events.model import CaseId
from projections.queries.access_log import reads
from services.query.dependencies import Caller, Pool
from services.query.schemas import refused
from services.tokens import TokenRole

router = APIRouter()


@router.get("/access-log", responses=refused)
async def access_log(
    who: Caller, pool: Pool, case_id: CaseId | None = None
) -> list[dict[str, Any]]:
    """Who read whose personal data, and when (auditors only)."""
    who.require(TokenRole.AUDITOR)
    async with pool.acquire() as conn:
        return await reads(conn, case_id)
