"""Statistics: the supervisors' figures for a year, now or as of a past instant, as JSON and as
CSV (one breakdown) or an Excel workbook (a sheet per breakdown)."""

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query
from fastapi.responses import Response

from events.as_of import Basis
from projections.queries.statistics import Dimension, report
from services.adapters.http import ApiError, ErrorCode, Instant, Text
from services.query.dependencies import Caller, Pool
from services.query.export_tables import about_sheet, statistics_sheet
from services.query.exports import (
    CSV_TYPE,
    XLSX_TYPE,
    csv_bytes,
    download,
    made_aside,
    xlsx_bytes,
)
from services.query.schemas import CsvFile, StatisticsOut, XlsxFile, exported, refused
from services.tokens import TokenRole

router = APIRouter()


def dimensions(by: str) -> list[Dimension]:
    try:
        return [Dimension(d.strip()) for d in by.split(",") if d.strip()]
    except ValueError:
        raise ApiError(422, ErrorCode.INVALID_DIMENSION, f"by: one of {list(Dimension)}") from None


Year = Annotated[int, Query(ge=1990, le=2199)]
AsOf = Annotated[Instant | None, Query(description="Figures as of then (auditors)")]
BY = "case_type,department,channel,…"


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
    year: Year = 2020,
    by: Annotated[Text, Query(description=BY)] = "case_type",
    as_of: AsOf = None,
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


MOST_BREAKDOWNS = 10
"""Sheets one workbook holds at most (each is two statements over the year's facts)."""


async def reports(
    who: Caller, pool: asyncpg.Pool, year: int, by: list[str], as_of: datetime | None, basis: Basis
) -> list[dict[str, Any]]:
    """``statistics``' answer for each breakdown, with its authorisation."""
    if as_of is not None:
        who.require(TokenRole.AUDITOR)
    if len(by) > MOST_BREAKDOWNS:
        raise ApiError(
            422, ErrorCode.INVALID_DIMENSION, f"by: at most {MOST_BREAKDOWNS} breakdowns"
        )
    groupings = [dimensions(b) for b in by]
    async with pool.acquire() as conn:
        return [await report(conn, year, grouping, as_of, basis) for grouping in groupings]


def file_name(year: int, as_of: datetime | None, suffix: str) -> tuple[str, str]:
    """The Chinese file name and its ASCII fallback."""
    at = f"-截至{as_of.date().isoformat()}" if as_of else ""
    ascii_at = f"-as-of-{as_of.date().isoformat()}" if as_of else ""
    return f"统计-{year}{at}.{suffix}", f"statistics-{year}{ascii_at}.{suffix}"


@router.get(
    "/statistics.csv",
    response_class=CsvFile,
    responses=exported(CSV_TYPE, "One breakdown of the figures as CSV (UTF-8 with BOM)"),
)
async def statistics_csv(
    who: Caller,
    pool: Pool,
    year: Year = 2020,
    by: Annotated[Text, Query(description=BY + " (one breakdown; empty: totals)")] = "case_type",
    as_of: AsOf = None,
    basis: Basis = Basis.RECORDED,
) -> Response:
    """The figures of ``GET /statistics`` (same parameters, same readers) as CSV with Chinese
    headers: the breakdown's labelled values, every measure (rates as fractions, the amount in
    yuan), then 同比. For several breakdowns at once, ask for the workbook."""
    (answer,) = await reports(who, pool, year, [by], as_of, basis)
    name, fallback = file_name(year, as_of, "csv")
    return download(csv_bytes(statistics_sheet(answer)), CSV_TYPE, name, fallback)


@router.get(
    "/statistics.xlsx",
    response_class=XlsxFile,
    responses=exported(XLSX_TYPE, "The figures as an Excel workbook, a sheet per breakdown"),
)
async def statistics_xlsx(
    who: Caller,
    pool: Pool,
    year: Year = 2020,
    by: list[Text] = Query(
        default=["case_type"],
        description="One breakdown per value, each a sheet: e.g. by=case_type&by=case_type,month"
        " (an empty value: the totals)",
    ),
    as_of: AsOf = None,
    basis: Basis = Basis.RECORDED,
) -> Response:
    """The figures of ``GET /statistics`` (same readers) as an Excel workbook with Chinese
    headers: one sheet per breakdown asked for (``by`` repeated, at most 10), then a sheet
    saying what the figures are (year, as of when, how each rate is counted). Rates are
    numbers shown as percentages, the amount in dispute in yuan."""
    answers = await reports(who, pool, year, by, as_of, basis)
    sheets = [statistics_sheet(answer) for answer in answers]
    body = await made_aside(xlsx_bytes, [*sheets, about_sheet(answers, sheets)])
    name, fallback = file_name(year, as_of, "xlsx")
    return download(body, XLSX_TYPE, name, fallback)
