"""Statistics: the supervisors' figures for a year, now or as of a past instant."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from events.as_of import Basis
from projections.queries.statistics import Dimension, report
from services.adapters.http import ApiError, ErrorCode, Instant, Text
from services.query.dependencies import Caller, Pool
from services.query.schemas import StatisticsOut, refused
from services.tokens import TokenRole

router = APIRouter()


def dimensions(by: str) -> list[Dimension]:
    try:
        return [Dimension(d.strip()) for d in by.split(",") if d.strip()]
    except ValueError:
        raise ApiError(422, ErrorCode.INVALID_DIMENSION, f"by: one of {list(Dimension)}") from None


@router.get(
    "/statistics",
    response_model=StatisticsOut,
    # A row holds the dimensions it is grouped by, not the others as nulls.
    response_model_exclude_unset=True,
    responses=refused,
)
async def statistics(
    who: Caller,
    pool: Pool,
    year: int = Query(default=2020, ge=1990, le=2199),
    by: Annotated[Text, Query(description="case_type,department,channel,…")] = "case_type",
    as_of: Instant | None = Query(None, description="Figures as of then (auditors)"),
    basis: Basis = Basis.RECORDED,
) -> dict[str, Any]:
    """The supervisors' figures for a year with 同比: open to every role, public too; as
    of a past instant for auditors (the cases' facts valid then, ``case_fact_versions``: a
    range query, the same figures as folding the log up to that instant). Per
    row: ``cases`` registered, ``accepted`` (neither refused nor awaiting the decision),
    ``persons`` (人次, visits included), ``closed`` and ``closure_rate`` (办结率) over the
    accepted, ``closed_on_time`` and ``on_time_closure_rate`` (按期办结率) of the closed,
    ``replied``/``reply_rate``, mediation figures and handling days
    (``projections.queries.statistics`` defines each)."""
    if as_of is not None:
        who.require(TokenRole.AUDITOR)
    grouping = dimensions(by)
    async with pool.acquire() as conn:
        return await report(conn, year, grouping, as_of, basis)
