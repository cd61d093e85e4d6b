"""The projections' health, for operators and load balancers: no token needed."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from projections.queries.health import live_builds
from services.query.dependencies import Pool

router = APIRouter()


@router.get("/health/projections")
async def projections_health(pool: Pool) -> JSONResponse:
    """Each projection's live build and the events it could not apply (503 if any)."""
    async with pool.acquire() as conn:
        report = await live_builds(conn)
    healthy = all(row["errors"] == 0 for row in report)
    return JSONResponse(
        {"healthy": healthy, "projections": report}, status_code=200 if healthy else 503
    )
