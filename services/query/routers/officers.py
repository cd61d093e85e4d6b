"""Officers: what one officer did, for the auditors' and supervisors' look back (倒查)."""

from typing import Any

from fastapi import APIRouter, Query

from projections.queries import officers
from services.query.dependencies import Caller, Pool
from services.query.schemas import ActivityRow, refused
from services.tokens import TokenRole

router = APIRouter()


@router.get("/officers/{officer_id}/activity", response_model=list[ActivityRow], responses=refused)
async def officer_activity(
    who: Caller,
    pool: Pool,
    officer_id: str,
    limit: int = Query(default=200, ge=1, le=2000),
) -> list[dict[str, Any]]:
    """Every action of one officer, oldest first (倒查)."""
    who.require(TokenRole.AUDITOR, TokenRole.SUPERVISOR)
    async with pool.acquire() as conn:
        return await officers.activity(conn, officer_id, limit)
