"""Officers: what one officer did, for the auditors' and supervisors' look back (倒查)."""

from typing import Any

from fastapi import APIRouter, Query

from projections.queries import officers
from services.adapters.http import ApiError, ErrorCode
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
    """Every action of one officer, oldest first (倒查). A supervisor limited to some
    departments sees only what officers did for those departments; an officer with nothing
    there is 404 to it, whether the officer exists or not."""
    who.require(TokenRole.AUDITOR, TokenRole.SUPERVISOR)
    scope = who.departments()
    async with pool.acquire() as conn:
        rows = await officers.activity(conn, officer_id, limit, scope)
    if scope is not None and not rows:
        raise ApiError(
            404,
            ErrorCode.UNKNOWN_OFFICER,
            f"你可查看的部门中没有此人员的记录 / no activity of officer {officer_id} in the"
            " departments this token reads",
        )
    return rows
