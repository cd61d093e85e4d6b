"""The projections' health, for operators and load balancers: the status words need no token;
the details (error texts, retry summaries) need an auditor's.

An error text is what failed when an event was applied, and that can quote the event's
payload (a validation error shows the value it refused), personal data included. So a caller
without a token, or with any other role, sees each projection's status and counts only;
supervisors too, who never read personal data."""

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from projections.queries.health import live_builds
from services.adapters.calendar_files import coverage
from services.adapters.http import refusals
from services.query.dependencies import AppSettings, MaybeCaller, Pool
from services.tokens import TokenRole

router = APIRouter()

Status = Literal["ok", "retrying", "failing"]


def status(row: dict[str, Any]) -> Status:
    """failing: events it could not apply (it stopped there); retrying: writes that keep
    failing for a reason that passes; ok: neither."""
    if row["errors"]:
        return "failing"
    return "retrying" if row["retrying"] else "ok"


def words(row: dict[str, Any]) -> dict[str, Any]:
    """What anyone may know of a projection: its name, status and counts."""
    return {
        "projection": row["projection"],
        "status": status(row),
        "errors": row["errors"],
        "partitions_retrying": len(row["retrying"]),
    }


@router.get(
    "/health/projections",
    responses={
        **refusals(401),
        503: {"description": "A projection is not ok, or PostgreSQL does not answer"},
    },
    # The token is optional here: {} in the list says the endpoint answers without one.
    openapi_extra={"security": [{}]},
)
async def projections_health(pool: Pool, who: MaybeCaller) -> JSONResponse:
    """Each projection's live build: ``ok``, ``retrying`` or ``failing``, with counts; 503 if
    any is not ok (and 503 ``database_unavailable`` when PostgreSQL does not answer). With an
    auditor's token, the details as well: the build, the first error, and each retrying
    partition ("retrying since …, N attempts, last error …")."""
    async with pool.acquire() as conn:
        report = await live_builds(conn)
    healthy = all(row["healthy"] for row in report)
    detailed = who is not None and who.token.role is TokenRole.AUDITOR
    projections = [{**row, **words(row)} if detailed else words(row) for row in report]
    return JSONResponse(
        jsonable_encoder({"healthy": healthy, "projections": projections}),
        status_code=200 if healthy else 503,
    )


@router.get("/health/calendar")
async def calendar_health(settings: AppSettings) -> dict[str, Any]:
    """How far ahead deadlines can be counted: the years from today to the horizon
    (CASETRAIL_CALENDAR_HORIZON_DAYS) with the source of each, the first year no holiday schedule
    covers, and a warning while there is one. Public data only, so no token is needed; always 200
    (a missing year refuses the steps that need it, it stops nothing)."""
    return coverage(settings).as_json()
