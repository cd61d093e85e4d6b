"""What the commands share: how they fail, how they reach PostgreSQL, how they read an instant."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, TypeVar

import asyncpg
import typer

from events.calendar import CHINA
from projections.db import connect
from services.settings import Settings

T = TypeVar("T")
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def fail(error: Exception | str, code: int = 1) -> typer.Exit:
    """Say what went wrong on stderr, in red; raise the returned Exit."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


def on_database(
    settings: Settings, work: Callable[[asyncpg.Connection], Awaitable[T]], *errors: type[Exception]
) -> T:
    """Run ``work`` on one connection; exit 2 with a clear message when PostgreSQL (or ``work``,
    with one of ``errors``) fails."""

    async def main() -> T:
        async with connect(settings.postgres_dsn) as conn:
            return await work(conn)

    expected: tuple[type[Exception], ...] = (OSError, asyncpg.PostgresError, *errors)
    try:
        return asyncio.run(main())
    except expected as error:
        raise fail(error, code=2) from None


def instant(text: str | None) -> datetime | None:
    """ISO 8601 with a timezone, or a date meaning the end of that day in China time."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA)
        return end_of_day - timedelta(microseconds=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a date nor an ISO 8601 instant") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} needs a timezone, e.g. {text}+08:00")
    return moment
