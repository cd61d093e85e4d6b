"""Officers: who they are (names from the directory), and what one officer did, for the
auditors' and supervisors' look back (倒查)."""

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from projections.queries import officers
from services.adapters.http import ApiError, ErrorCode, Text
from services.query.access import CASE_READERS
from services.query.dependencies import Caller, Directory, Pool
from services.query.schemas import ActivityRow, OfficerOut, refused
from services.tokens import TokenRole

router = APIRouter()


@router.get("/officers", response_model=list[OfficerOut], responses=refused)
async def officer_directory(who: Caller, officers: Directory) -> JSONResponse:
    """The officer directory as case readers need it to read a case: each officer's id, name,
    department and roles, so that screens name who acted. Nothing of their certificates: a
    step's actor already carries the certificate it was taken under. Empty when the service
    has no directory (``CASETRAIL_OFFICERS_FILE``)."""
    who.require(*CASE_READERS)
    rows = [
        OfficerOut(
            officer_id=o.officer_id,
            name=o.name,
            department=o.department,
            roles=sorted(role.value for role in o.roles),
        ).model_dump()
        for o in sorted(officers.values(), key=lambda o: o.officer_id)
    ]
    # Names change with the directory file, read when the service starts: a browser may keep
    # them a few minutes, no shared cache at all (the answer needs a token).
    return JSONResponse(rows, headers={"Cache-Control": "private, max-age=300"})


@router.get("/officers/{officer_id}/activity", response_model=list[ActivityRow], responses=refused)
async def officer_activity(
    who: Caller,
    pool: Pool,
    officer_id: Text,
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
