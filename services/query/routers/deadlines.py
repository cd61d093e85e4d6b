"""Deadlines: the red and yellow lists (红灯, 黄灯) across cases."""

from typing import Any, Literal

from fastapi import APIRouter, Query

from projections.queries import deadlines
from services.adapters.http import Text
from services.query.access import CASE_READERS
from services.query.dependencies import Caller, Pool
from services.query.schemas import DeadlineRow, refused

router = APIRouter()


@router.get("/deadlines", response_model=list[DeadlineRow], responses=refused)
async def red_and_yellow(
    who: Caller,
    pool: Pool,
    light: Literal["red", "yellow", "unknown"] = "red",
    department: Text | None = None,
    limit: int = Query(default=200, ge=1, le=2000),
) -> list[dict[str, Any]]:
    """红灯/黄灯: open deadlines breached (red) or near (yellow), most urgent first; unknown:
    deadlines the calendar cannot count (a year with no holiday schedule)."""
    who.require(*CASE_READERS)
    async with pool.acquire() as conn:
        return await deadlines.lit(conn, light, department, who.departments(), limit)
