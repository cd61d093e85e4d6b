"""Statistics: what supervisors ask (DOMAIN.md), computed in SQL over ``case_facts``.

The same measures answer for today's figures (the live ``case_facts`` view) and for any past
instant. As of an instant, the query service counts the rows of ``case_fact_versions`` valid
then (a version's facts from the instant it counts until its successor does, as recorded or as
happened): a range query over the projection, never a fold per request. Given the events (the
log's: ``casetrail stats --as-of`` reads it, the auditor's own way), they are folded up to the
instant (``facts_as_of``) into a temporary ``case_facts`` table that shadows the view for that
connection only; the tests hold the two answers equal.

What the measures count, for the cases registered in the period:

- ``cases``: every case registered; ``persons`` (人次): the persons of each registration plus
  those of every further visit recorded on it (``petition.visit_recorded``);
- ``accepted``: the cases taken up: all but those whose status is one of their lifecycle's
  ``refused`` (不予受理, 不予立案, …) and those still ``awaiting`` the decision (registered, a
  case source not yet filed, an application). A refused case was never the office's to handle,
  and an undecided one is not the office's yet, so neither counts above nor below the line of a
  closure rate;
- ``closed`` (办结): accepted cases closed; ``closure_rate`` (办结率) = closed / accepted, the
  report's "办结率达99%";
- ``closed_on_time``: closed cases in which no deadline was breached; ``on_time_closure_rate``
  (按期办结率) = closed_on_time / closed, what supervisors are judged by. A deadline is breached
  when one of the case's clocks stopped (by the step that meets it, a restart, or the closing)
  or was still running at a later step of the case, past its due instant: its due day with the
  extensions granted before it passed and the stretches it stood still (suspension, the pauses
  the law leaves out). Decided from the clocks in the fold of the case's own events
  (``read_models.cases.breached_before``), never from the system clock's breach events, which a
  stopped clock service would leave missing; so past figures fold the same way;
- ``replied``, ``reply_rate``: cases with a reply or written opinion, over every case;
- ``mediations_agreed``, ``mediation_success_rate``, ``amount_in_dispute_fen``; average and
  longest handling days of the cases closed (refusals included: they were handled too);
- ``supervision_notes`` (督办) on those cases, ``supervision_answered_on_time``: answered before
  the due instant of the note's own clock (its respond_by, or the town's default), and
  ``supervision_on_time_rate`` = answered on time / notes: a note still unanswered, or
  answered late, counts against it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from events.as_of import Basis, happened_by
from events.calendar import CHINA
from events.decide import evolve
from events.model import Event
from events.state import CaseState
from projections.db import Connection, fetch_dicts
from projections.read_models.cases import FACTS_AS_OF_DDL, CaseFacts, facts_after, facts_row


class Dimension(StrEnum):
    CASE_TYPE = "case_type"
    DEPARTMENT = "department"
    CHANNEL = "channel"
    STATUS = "status"
    MONTH = "month"


_DIMENSION_SQL = {
    Dimension.CASE_TYPE: "case_type",
    Dimension.DEPARTMENT: "department",
    Dimension.CHANNEL: "coalesce(channel, '')",
    Dimension.STATUS: "status",
    # Months as the town counts them: in China time.
    Dimension.MONTH: "to_char(opened_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}

_CLOSED = "closed_at IS NOT NULL AND NOT refused"
_ACCEPTED = "NOT refused AND NOT undecided"


def _rate(part: str, whole: str, digits: int = 4) -> str:
    """``part`` / ``whole`` rounded, as SQL; NULL when ``whole`` is 0 (no rate over nothing:
    a year without a case has none, and PostgreSQL would refuse the division)."""
    return f"round(({part})::numeric / nullif({whole}, 0), {digits})::float8"


# The types are the answer's: counts and money (fen) as bigint, rates and days as float8.
# PostgreSQL's sum over bigint and its rounding give numeric, which asyncpg reads as Decimal and
# JSON encoders write as strings ("0.9444", "1.2000E+8"); so each measure is cast where it is
# made, and every reader (the API, `casetrail stats --json`) gets plain numbers.
_COUNT_CLOSED = f"count(*) FILTER (WHERE {_CLOSED})"
_COUNT_ACCEPTED = f"count(*) FILTER (WHERE {_ACCEPTED})"
_COUNT_ON_TIME = f"count(*) FILTER (WHERE {_CLOSED} AND NOT breached)"
_COUNT_AGREED = "count(*) FILTER (WHERE mediation_result = 'agreed')"
_COUNT_MEDIATIONS = "count(*) FILTER (WHERE case_type = 'mediation')"
MEASURES = f"""
    count(*) AS cases,
    {_COUNT_ACCEPTED} AS accepted,
    coalesce(sum(persons), 0)::bigint AS persons,
    {_COUNT_CLOSED} AS closed,
    {_rate(_COUNT_CLOSED, _COUNT_ACCEPTED)} AS closure_rate,
    {_COUNT_ON_TIME} AS closed_on_time,
    {_rate(_COUNT_ON_TIME, _COUNT_CLOSED)} AS on_time_closure_rate,
    count(*) FILTER (WHERE replied) AS replied,
    {_rate("count(*) FILTER (WHERE replied)", "count(*)")} AS reply_rate,
    {_COUNT_AGREED} AS mediations_agreed,
    {_rate(_COUNT_AGREED, _COUNT_MEDIATIONS)} AS mediation_success_rate,
    coalesce(sum(amount_in_dispute_fen), 0)::bigint AS amount_in_dispute_fen,
    round(avg(extract(epoch FROM closed_at - opened_at) / 86400)::numeric, 2)::float8
        AS average_handling_days,
    round(max(extract(epoch FROM closed_at - opened_at) / 86400)::numeric, 2)::float8
        AS longest_handling_days,
    coalesce(sum(supervision_notes), 0)::bigint AS supervision_notes,
    coalesce(sum(supervision_answered_on_time), 0)::bigint AS supervision_answered_on_time,
    {_rate("sum(supervision_answered_on_time)", "sum(supervision_notes)")}
        AS supervision_on_time_rate
"""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def year(cls, year: int) -> "Period":
        """A calendar year as the town counts it: in China time."""
        return cls(
            datetime(year, 1, 1, tzinfo=CHINA).astimezone(UTC),
            datetime(year + 1, 1, 1, tzinfo=CHINA).astimezone(UTC),
        )


VALID_AT = {
    Basis.RECORDED: "recorded_from <= {at} AND recorded_to > {at}",
    Basis.OCCURRED: "occurred_from <= {at} AND occurred_to > {at}",
}
"""The versions of ``case_fact_versions`` that were their cases' at the instant ``at`` (a
parameter): a case's events count up to the first that had not been recorded (or happened)
by then."""


async def figures(
    conn: Connection,
    period: Period,
    by: Iterable[Dimension],
    as_of: tuple[datetime, Basis] | None = None,
) -> list[dict[str, Any]]:
    """The measures for cases opened in ``period``, grouped by ``by`` (no grouping: totals):
    now, or with ``as_of`` (an instant and its basis) over the facts valid then."""
    dims = list(dict.fromkeys(by))
    select = [f"{_DIMENSION_SQL[d]} AS {d.value}" for d in dims]
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}" if dims else ""
    order = f" ORDER BY {', '.join(str(i + 1) for i in range(len(dims)))}" if dims else ""
    source, valid, args = "case_facts", "", []
    if as_of is not None:
        instant, basis = as_of
        source, args = "case_fact_versions", [instant]
        valid = " AND " + VALID_AT[basis].format(at="$3")
    return await fetch_dicts(
        conn,
        f"SELECT {', '.join([*select, MEASURES])} FROM {source}"
        f" WHERE opened_at >= $1 AND opened_at < $2{valid}{group}{order}",
        period.start,
        period.end,
        *args,
    )


async def _figures_of_two_years(
    conn: Connection, year: int, by: Iterable[Dimension], as_of: tuple[datetime, Basis]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``figures`` of ``year`` and of the year before over the facts valid at ``as_of``, in one
    statement: whatever index serves it, the versions valid then are read once, not once a
    year (at scale that read is the whole cost of the answer)."""
    dims = list(dict.fromkeys(by))
    select = [f"{_DIMENSION_SQL[d]} AS {d.value}" for d in dims]
    keys = ", ".join(str(i + 1) for i in range(len(dims) + 1))
    instant, basis = as_of
    this, last = Period.year(year), Period.year(year - 1)
    rows = await fetch_dicts(
        conn,
        f"SELECT opened_at >= $3 AS this_year, {', '.join([*select, MEASURES])}"
        " FROM case_fact_versions WHERE opened_at >= $1 AND opened_at < $2"
        f" AND {VALID_AT[basis].format(at='$4')} GROUP BY {keys} ORDER BY {keys}",
        last.start,
        this.end,
        this.start,
        instant,
    )
    current: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    for row in rows:
        (current if row.pop("this_year") else previous).append(row)
    return current, previous


def year_over_year(current: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """The relative change of every count (同比), e.g. -0.09 for 9% fewer."""
    changes: dict[str, Any] = {}
    counts = ("cases", "accepted", "persons", "closed", "closed_on_time", "replied")
    for key in (*counts, "mediations_agreed"):
        before = (previous or {}).get(key) or 0
        changes[key] = round((current[key] - before) / before, 4) if before else None
    return changes


def facts_as_of(events: Iterable[Event], instant: datetime, basis: Basis) -> list[tuple[Any, ...]]:
    """Every case's facts row as the log stood at ``instant``. A case's events count in order
    up to the first that had not happened (or been recorded) yet."""
    states: dict[str, CaseState] = {}
    facts: dict[str, CaseFacts] = {}
    cut: set[str] = set()
    for event in events:
        if event.case_id in cut:
            continue
        if not happened_by(event, instant, basis):
            cut.add(event.case_id)
            continue
        before = states.get(event.case_id)
        facts[event.case_id] = facts_after(facts.get(event.case_id, CaseFacts()), event, before)
        states[event.case_id] = evolve(before, event)
    return [facts_row(states[case_id], facts[case_id]) for case_id in states]


async def load_facts_as_of(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """A temporary ``case_facts`` with ``rows``, shadowing the live view on this connection until
    the caller's transaction ends (a pooled connection must not keep shadowing it)."""
    await conn.execute("DROP TABLE IF EXISTS pg_temp.case_facts")
    await conn.execute(FACTS_AS_OF_DDL)
    await conn.copy_records_to_table("case_facts", records=rows, schema_name="pg_temp")


async def report(
    conn: Connection,
    year: int,
    by: Sequence[Dimension],
    as_of: datetime | None = None,
    basis: Basis = Basis.RECORDED,
    events: Iterable[Event] | None = None,
) -> dict[str, Any]:
    """The figures of ``year`` and 同比 against the year before: now, or with ``as_of`` as the
    log stood then: folded from ``events`` (the whole log, which the caller reads), or, without
    them, from ``case_fact_versions``."""
    valid_then = (as_of, basis) if as_of is not None and events is None else None
    async with conn.transaction():  # both years from one snapshot, as a temporary table lasts
        if as_of is not None and events is not None:
            await load_facts_as_of(conn, facts_as_of(events, as_of, basis))
        if valid_then is not None and by:
            current, previous = await _figures_of_two_years(conn, year, by, valid_then)
        else:  # ungrouped totals are one row even over no case: a statement a year
            current = await figures(conn, Period.year(year), by, valid_then)
            previous = await figures(conn, Period.year(year - 1), by, valid_then)
    key = [d.value for d in by]
    before = {tuple(row[k] for k in key): row for row in previous}
    for row in current:
        row["year_over_year"] = year_over_year(row, before.get(tuple(row[k] for k in key)))
    return {
        "year": year,
        "as_of": as_of.isoformat() if as_of else None,
        "basis": basis.value if as_of else None,
        "by": key,
        "rows": current,
    }
