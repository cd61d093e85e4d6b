"""``casetrail erase`` and ``casetrail retention``: destroying data subjects' keys, on request
or when a retention period ends (docs/privacy.md)."""

import asyncio
import json
import logging
import time
from datetime import date, datetime
from typing import Annotated

import typer

from services.cli.common import AsJson, fail
from services.settings import Settings

Reason = Annotated[
    str, typer.Option(help="Why (recorded in the log's erasure step and beside each key)")
]
ApprovedBy = Annotated[
    str, typer.Option(help="The auditor who approved it (recorded in the erasure step)")
]
OfficerId = Annotated[
    str | None,
    typer.Option(
        "--officer",
        help="The privacy officer recording it (default: the directory's only privacy_officer)",
    ),
]


MAX_EVERY_HOURS = 366 * 24
"""The longest interval of a scheduled retention run: a year."""


def _subjects(count: int) -> str:
    return f"{count} data subject{'' if count == 1 else 's'}"


def _quiet() -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _print(report_json: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report_json, ensure_ascii=False, indent=2, default=str))
        return
    erased = report_json["erased"]
    refused = report_json["refused"]
    assert isinstance(erased, list)
    assert isinstance(refused, list)
    for item in erased:
        typer.echo(
            f"erased {item['case_id']}: {_subjects(len(item['subjects']))} (v{item['version']})"
        )
    finished = report_json.get("finished") or []
    assert isinstance(finished, list)
    for case_id in finished:
        typer.echo(f"finished {case_id}: the keys of an erasure recorded before are destroyed")
    for item in refused:
        typer.secho(f"refused {item['case_id']}: {item['code']} {item['message']}", err=True)
    typer.echo(
        f"{report_json['keys_destroyed']} keys destroyed; submissions dropped before offsets"
        f" {report_json['submissions_dropped_before']}"
    )


def erase(
    reason: Reason,
    approved_by: ApprovedBy,
    case: Annotated[
        list[str] | None, typer.Option("--case", help="Erase every person of this case")
    ] = None,
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Erase this data subject (its id)")
    ] = None,
    officer: OfficerId = None,
    as_json: AsJson = False,
) -> None:
    """Erase personal data by destroying its data subjects' keys (crypto-shredding): records
    the step (case.erase_personal_data, naming nobody) on each case, destroys the keys, and
    drops the submissions the decider has decided on the cases' partitions. The log, the read
    models and the API keep everything else; statistics do not change. Exit 0: erased; 1:
    nothing to erase or refused; 2: could not."""
    from events.payloads import ErasureBasis
    from services.privacy.erasure import (
        ErasureError,
        privacy_officer,
        requested_targets,
    )
    from services.privacy.erasure import (
        erase as run,
    )
    from services.privacy.keystore import open_keystore

    if not case and not subject:
        raise typer.BadParameter("name a --case or a --subject", param_hint="--case / --subject")
    for text, hint in ((reason, "--reason"), (approved_by, "--approved-by")):
        if not text.strip():
            raise typer.BadParameter("must not be blank", param_hint=hint)
    _quiet()
    settings = Settings()

    async def main() -> dict[str, object]:
        who = privacy_officer(settings, officer)
        async with open_keystore(settings) as keys:
            targets = await requested_targets(settings, keys, case or [], subject or [])
            report = await run(
                settings,
                keys,
                targets,
                basis=ErasureBasis.REQUEST,
                reason=reason.strip(),
                approved_by=approved_by.strip(),
                officer=who,
                say=lambda line: typer.echo(line, err=True),
            )
        return report.as_json()

    try:
        result = asyncio.run(main())
    except ErasureError as error:
        raise fail(error) from None
    except (OSError, RuntimeError, TimeoutError) as error:
        raise fail(error, code=2) from None
    _print(result, as_json)
    if result["refused"]:
        raise typer.Exit(code=1)


def retention(
    approved_by: Annotated[
        str | None,
        typer.Option(
            help="The auditor who approved the retention policy (needed unless --dry-run)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what is due; erase nothing")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="The day to count from (YYYY-MM-DD; default today); a later day only with"
            " --dry-run: plan ahead"
        ),
    ] = None,
    every_hours: Annotated[
        float | None,
        typer.Option("--every-hours", help="Run again every so many hours (a scheduled job)"),
    ] = None,
    officer: OfficerId = None,
    as_json: AsJson = False,
) -> None:
    """Erase the personal data of closed cases whose retention period (years after closure,
    per case type: docs/privacy.md, or CASETRAIL_RETENTION_YEARS_FILE) has ended. --dry-run
    lists them. Exit 0: done; 1: a case refused; 2: could not."""
    from events.payloads import ErasureBasis
    from services.privacy.erasure import (
        ErasureError,
        privacy_officer,
        retention_due,
        retention_years,
    )
    from services.privacy.erasure import (
        erase as run,
    )
    from services.privacy.keystore import open_keystore

    if every_hours is not None and not 0 < every_hours <= MAX_EVERY_HOURS:  # NaN too
        raise typer.BadParameter(
            f"give hours between 0 and {MAX_EVERY_HOURS} (a year), not {every_hours}",
            param_hint="--every-hours",
        )
    if not dry_run and not (approved_by and approved_by.strip()):
        raise typer.BadParameter("who approved the policy?", param_hint="--approved-by")
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(
            f"{as_of!r} is no date (YYYY-MM-DD)", param_hint="--as-of"
        ) from None
    if day is not None and every_hours is not None:
        raise typer.BadParameter(
            "a scheduled run counts from the day it runs, not from one fixed day",
            param_hint="--as-of",
        )
    if day is not None and not dry_run and day > datetime.now().date():
        # Destroying a key cannot be undone: never before its period has ended.
        raise typer.BadParameter(
            f"{day} is still to come: plan ahead with --dry-run", param_hint="--as-of"
        )
    _quiet()
    settings = Settings()

    async def once() -> dict[str, object]:
        today = day or datetime.now().date()
        years = retention_years(settings)
        who = None if dry_run else privacy_officer(settings, officer)
        async with open_keystore(settings) as keys:
            due = await retention_due(settings, keys, today)
            listed = [
                {
                    "case_id": case["case_id"],
                    "case_type": case["case_type"],
                    "closed_at": case["closed_at"].isoformat(),
                    "subjects": len(target.subjects) + len(target.unfinished),
                }
                for case, target in due
            ]
            if dry_run or who is None:
                return {"as_of": today.isoformat(), "years": years, "due": listed}
            report = await run(
                settings,
                keys,
                [target for _, target in due],
                basis=ErasureBasis.RETENTION,
                reason=f"保存期限届满 / retention period ended ({today.isoformat()})",
                approved_by=(approved_by or "").strip(),
                officer=who,
                say=lambda line: typer.echo(line, err=True),
            )
        return {"as_of": today.isoformat(), "years": years, "due": listed, **report.as_json()}

    if every_hours is None:
        try:
            result = asyncio.run(once())
        except ErasureError as error:
            raise fail(error) from None
        except (OSError, RuntimeError, TimeoutError) as error:
            raise fail(error, code=2) from None
        _report(result, dry_run, as_json)
        if result.get("refused"):
            raise typer.Exit(code=1)
        return
    while True:
        # A scheduled job outlives one failed run (PostgreSQL or Kafka away, a case refused):
        # it says so and tries again at the next run.
        try:
            _report(asyncio.run(once()), dry_run, as_json)
        except (ErasureError, OSError, RuntimeError, TimeoutError) as error:
            typer.secho(f"error: {error} (again in {every_hours} h)", fg=typer.colors.RED, err=True)
        time.sleep(every_hours * 3600)


def _report(result: dict[str, object], dry_run: bool, as_json: bool) -> None:
    due = result["due"]
    assert isinstance(due, list)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))
        return
    by_type: dict[str, list[int]] = {}
    for item in due:
        counts = by_type.setdefault(item["case_type"], [0, 0])
        counts[0] += 1
        counts[1] += item["subjects"]
    typer.echo(f"retention as of {result['as_of']}: years after closure {result['years']}")
    for case_type, (cases, subjects) in sorted(by_type.items()):
        typer.echo(f"  {case_type}: {cases} cases due, {_subjects(subjects)}")
    if not due:
        typer.echo("  nothing due")
    if dry_run:
        for item in due:
            typer.echo(
                f"  due {item['case_id']} ({item['case_type']}, closed {item['closed_at'][:10]}):"
                f" {_subjects(item['subjects'])}"
            )
        typer.echo("dry run: nothing erased")
        return
    _print(result, False)
