"""``casetrail calendar``: which years' holiday schedules the deadlines can count on."""

import json
from datetime import date

import typer

from events import calendar as working_calendar
from events.calendar import differences, package_schedules
from services.adapters.calendar_files import EXAMPLE, coverage, install
from services.cli.common import AsJson, fail
from services.settings import Settings

app = typer.Typer(
    help="Working-day calendar: which years are covered and by what. A deadline that would run"
    " into a year no source covers is refused (calendar_not_covered); when the packages lag"
    " behind the State Council's notice, copy the notice into <calendar dir>/<year>.toml"
    " (CASETRAIL_CALENDAR_DIR, default <state_dir>/calendar):\n\n" + EXAMPLE,
    no_args_is_help=True,
)


def _installed() -> Settings:
    settings = Settings()
    try:
        install(settings)
    except ValueError as error:
        raise fail(error, code=2) from None
    return settings


@app.command()
def check(as_json: AsJson = False) -> None:
    """Exit 1 when a day within CASETRAIL_CALENDAR_HORIZON_DAYS from today lies in a year no
    schedule covers, or when two packages disagree on a year both hold; 2 if a file is wrong."""
    settings = _installed()
    found = coverage(settings)
    disagreements = {}
    for year in found.sources:
        schedules = package_schedules(year)
        if len(schedules) == 2 and (apart := differences(*schedules)):
            disagreements[year] = [d.isoformat() for d in apart]
    if as_json:
        typer.echo(
            json.dumps({**found.as_json(), "disagreements": disagreements}, ensure_ascii=False)
        )
    else:
        typer.echo(f"calendar files: {settings.calendar_path}")
        typer.echo(f"today {found.today}, looking ahead to {found.horizon_end}")
        for year, source in found.sources.items():
            typer.echo(f"  {year}: {source}")
        for year, days in disagreements.items():
            typer.secho(f"  {year}: the packages disagree on {', '.join(days)}", fg="red")
        if found.warning:
            typer.secho(f"  {found.uncovered_year}: no schedule: {found.warning}", fg="red")
        else:
            typer.echo("every day up to the horizon is covered")
    if found.warning or disagreements:
        raise typer.Exit(code=1)


@app.command()
def show(year: int = typer.Argument(..., help="The year, e.g. 2027")) -> None:
    """The year's schedule: its source, the weekdays off and the weekend days worked."""
    _installed()
    schedule = working_calendar.active().schedule(year)
    if schedule is None:
        raise fail(working_calendar.CalendarNotCovered(year), code=1)
    typer.echo(f"{year}: {schedule.source}")
    off = sorted(d for d in schedule.rest_days if d.weekday() < 5)
    typer.echo("rest days (weekdays): " + ", ".join(d.isoformat() for d in off))
    worked = sorted(schedule.working_days)
    typer.echo("working days (weekends): " + ", ".join(d.isoformat() for d in worked))


@app.command("is-working-day")
def is_working_day(day: str = typer.Argument(..., help="YYYY-MM-DD")) -> None:
    """Say whether a day is a working day (exit 1 if its year is not covered)."""
    _installed()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)") from None
    try:
        working = working_calendar.is_working_day(parsed)
    except working_calendar.CalendarNotCovered as gap:
        raise fail(gap, code=1) from None
    typer.echo(f"{parsed}: {'工作日 / working day' if working else '休息日 / rest day'}")
