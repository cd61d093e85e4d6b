"""Commands on the read path: lag, rebuild, replay, stats (registered in services.cli.main)."""

import asyncio
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import typer

from events.as_of import Basis
from events.as_of import replay as replay_case
from events.calendar import CHINA
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.adapters.event_log import case_events, read_events
from services.adapters.kafka import TopologyError
from services.cli.common import AsJson, fail, instant, on_database
from services.projector.lag import lag as lag_of
from services.projector.rebuild import RebuildError
from services.projector.rebuild import rebuild as rebuild_projection
from services.settings import Settings


def lag(as_json: AsJson = False) -> None:
    """How far each projection is behind the log, any event it could not apply, and partitions
    retrying after failures that pass. Exits 1 when a projection is unhealthy."""
    settings = Settings()
    report = on_database(settings, lambda conn: lag_of(settings, conn), TopologyError)
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in report], default=str, ensure_ascii=False))
    else:
        for r in report:
            total = sum(r.behind.values())
            state = "healthy" if r.healthy else "UNHEALTHY"
            typer.echo(f"{r.projection:<18} build {r.build}  {total:>8} behind  {state}")
            for error in r.errors:
                where = f"p{error['partition']}@{error['log_offset']}"
                typer.echo(f"  {where}: {error['error']} (stopped here)")
            for retry in r.retrying:
                typer.echo(f"  p{retry['partition']}: {retry['summary']}")
    if not all(r.healthy for r in report):
        raise typer.Exit(1)


def rebuild(
    projection: Annotated[str, typer.Argument(help="cases, audit_trail or officer_activity")],
) -> None:
    """Rebuild a projection from offset 0 beside the live one, then switch readers atomically."""
    settings = Settings()

    interactive = sys.stdout.isatty()

    def say(line: str) -> None:
        # On a terminal the progress line rewrites itself; in a log, one line a second.
        if interactive and line.startswith("["):
            typer.echo("\r" + line, nl=False)
        else:
            typer.echo(("\n" if interactive else "") + line)

    try:
        asyncio.run(rebuild_projection(settings, projection, say))
    except (RebuildError, TopologyError, OSError, asyncpg.PostgresError) as error:
        raise fail(error, code=2) from None


def replay(
    case_id: Annotated[str, typer.Argument(help="The case")],
    as_of: Annotated[
        str | None, typer.Option(help="An instant (ISO 8601) or a day (its end, China time)")
    ] = None,
    basis: Annotated[
        Basis, typer.Option(help="recorded: as the log stood then; occurred: as things happened")
    ] = Basis.RECORDED,
    as_json: AsJson = False,
) -> None:
    """A case step by step from the log, and its state at any past instant."""
    settings = Settings()
    at = instant(as_of)
    events = asyncio.run(case_events(settings, case_id))
    if not events:
        raise fail(f"no case {case_id} on the log")
    replayed = replay_case(events, at, basis)
    state = replayed.state
    if as_json:
        replayed_json = {
            "case_id": case_id,
            "events": [e.model_dump(mode="json") for e in events],
            "counted": replayed.counted,
            "state": state.model_dump(mode="json") if state else None,
        }
        typer.echo(json.dumps(replayed_json, ensure_ascii=False))
        return
    for index, event in enumerate(events):
        mark = " " if index < replayed.counted else "-"
        actor = event.actor
        cert = f" 证{actor.certificate}" if actor.certificate else ""
        typer.echo(
            f"{mark} v{event.version:<3} {event.type:<34}"
            f" 发生 {event.occurred_at.astimezone(CHINA):%Y-%m-%d %H:%M}"
            f"  记录 {event.recorded_at.astimezone(CHINA):%Y-%m-%d %H:%M}"
            f"  {actor.officer_id} {actor.role}"
            f" {actor.department}{cert}"
        )
    when = f"as of {at.isoformat()} ({basis.value})" if at else "now"
    if state is None:
        typer.echo(f"\n{when}: the case did not exist yet")
        return
    at = at or datetime.now(CHINA)
    typer.echo(
        f"\n{when}: {state.case_type} {state.status}, version {state.version},"
        f" owned by {state.owner_department}"
    )
    for clock in state.clocks:
        due = clock.counted_due_day() or "not countable (calendar)"
        typer.echo(f"  deadline {clock.rule}: due {due}, {clock.light(at)}")
    if replayed.counted < len(events):
        typer.echo(f"  (- {len(events) - replayed.counted} later step(s) not counted)")


def stats(
    year: Annotated[int, typer.Option(help="The year (China time)")] = 2020,
    by: Annotated[
        str, typer.Option(help="Comma-separated: case_type, department, channel, status, month")
    ] = "case_type",
    as_of: Annotated[
        str | None, typer.Option(help="Figures as the log stood then: ISO instant or a day")
    ] = None,
    basis: Annotated[Basis, typer.Option(help="With --as-of: recorded or occurred")] = (
        Basis.RECORDED
    ),
    as_json: AsJson = False,
) -> None:
    """The supervisors' figures for a year, with year-over-year change; now or as of a date:
    cases registered and accepted, person-visits, closure rate (办结率, over accepted cases),
    on-time closure rate (按期办结率, of the cases closed), reply rate, and supervision notes
    answered on time (督办按时反馈) where there are any."""
    settings = Settings()
    try:
        dimensions = [Dimension(d.strip()) for d in by.split(",") if d.strip()]
    except ValueError:
        raise typer.BadParameter(f"--by takes {', '.join(d.value for d in Dimension)}") from None
    at = instant(as_of)

    async def figures(conn: asyncpg.Connection) -> dict[str, Any]:
        events = await read_events(settings) if at is not None else []
        return await statistics.report(conn, year, dimensions, at, basis, events)

    result = on_database(settings, figures, TopologyError)
    if as_json:
        typer.echo(json.dumps(result, default=str, ensure_ascii=False))
        return
    title = f"{year}" + (f", as of {result['as_of']} ({result['basis']})" if at else "")
    typer.echo(title)
    for row in result["rows"]:
        name = " / ".join(str(row[k]) for k in result["by"]) or "all"
        change = row["year_over_year"]["cases"]
        yoy = f"{change:+.0%}" if change is not None else "n/a"
        typer.echo(
            f"{name:<28} {row['cases']:>6} cases {row['accepted']:>6} accepted"
            f" {row['persons']:>6} persons  办结率 closed {_percent(row['closure_rate'])}"
            f"  按期 on time {_percent(row['on_time_closure_rate'])}"
            f"  replied {_percent(row['reply_rate'])}  同比 {yoy}"
            + (
                f"  督办 supervision answered on time {row['supervision_answered_on_time']}"
                f"/{row['supervision_notes']}"
                if row["supervision_notes"]
                else ""
            )
        )


def _percent(rate: Any) -> str:
    """A rate as the report writes it; a rate over nothing (no case accepted) is no rate."""
    return f"{rate:.0%}" if rate is not None else "n/a"
