"""The projections' health, for operators and load balancers: no token needed."""

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from projections.queries.health import live_builds
from services.query.dependencies import Pool

router = APIRouter()


@router.get("/health/projections")
async def projections_health(pool: Pool) -> JSONResponse:
    """Each projection's live build, the events it could not apply, and its partitions
    retrying after failures that pass ("retrying since …, N attempts, last error …"): 503 if
    any (and 503 ``database_unavailable`` when PostgreSQL does not answer)."""
    async with pool.acquire() as conn:
        report = await live_builds(conn)
    healthy = all(row["healthy"] for row in report)
    return JSONResponse(
        jsonable_encoder({"healthy": healthy, "projections": report}),
        status_code=200 if healthy else 503,
    )
