"""``casetrail migrate``: seal a log written in plaintext into new topics, check the record of
it, and delete the old topics (docs/privacy-migration.md)."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from events.suite import Suite
from services.cli.common import AsJson, fail
from services.settings import Settings

app = typer.Typer(
    help="Migrations of the log: sealing personal data written in plaintext"
    " (docs/privacy-migration.md), moving it to another cryptographic suite"
    " (docs/suite-migration.md).",
    no_args_is_help=True,
)

EvidenceOption = Annotated[
    Path | None,
    typer.Option(
        "--evidence",
        help="The migration record (default: <state_dir>/migrations/seal-log.<old>.to.<new>.jsonl)",
    ),
]


def _errors() -> tuple[type[Exception], ...]:
    from aiokafka.errors import KafkaError
    from asyncpg import InterfaceError, PostgresError

    from services.adapters.kafka import KafkaCredentialsError, TopologyError
    from services.integrity.shell import CannotVerify
    from services.privacy.cipher import MasterKeyError
    from services.privacy.keystore import KeyStoreUnavailable

    return (
        KafkaError,
        OSError,
        TopologyError,
        CannotVerify,
        KafkaCredentialsError,
        MasterKeyError,
        KeyStoreUnavailable,
        PostgresError,
        InterfaceError,
    )


@app.command("seal-log")
def seal_log(
    to_prefix: Annotated[
        str, typer.Option("--to-prefix", help="The topic prefix of the new, sealed log")
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Only say, per partition, how many events and subjects it would seal"
        ),
    ] = False,
    evidence: EvidenceOption = None,
    to_suite: Annotated[
        Suite | None,
        typer.Option(
            "--to-suite",
            help="The cryptographic suite of the new log (default: CASETRAIL_CRYPTO_SUITE, the"
            " old log's): its chains, checkpoints and sealed values move to it"
            " (docs/suite-migration.md)",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Write the log of CASETRAIL_TOPIC_PREFIX again under --to-prefix with every personal
    value sealed under a new data subject's key (upcast to the current schema first), every
    chain recomputed and signed checkpoints, and a signed record mapping each old hash to its
    new hash. With --to-suite, the new log is of that suite: values sealed already are opened
    and sealed again under its cipher (the old keys are then destroyed). The deciders must be
    stopped and the log must verify. Run it again after any interruption: it checks what the
    target holds and writes only what is missing. Exit 0: done; 1: refused (one line per
    reason); 2: could not."""
    from services.privacy.relog import MigrationRefused
    from services.privacy.relog import seal_log as run
    from services.progress import quiet

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    say = quiet if as_json else typer.echo
    try:
        report = asyncio.run(run(settings, to_prefix, say, dry_run, evidence, to_suite=to_suite))
    except MigrationRefused as error:
        for line in error.reasons:
            typer.secho(f"refused: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    except _errors() as error:
        raise fail(f"could not migrate: {error}", code=2) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    if dry_run or as_json:
        return
    if to_suite is not None and to_suite is not settings.crypto_suite:
        typer.echo(
            f"next: switch CASETRAIL_TOPIC_PREFIX to {to_prefix} and CASETRAIL_CRYPTO_SUITE to"
            f" {to_suite}, rebuild the projections, verify; keep the old topics as evidence"
            " (docs/suite-migration.md)"
        )
    else:
        typer.echo(
            f"next: switch CASETRAIL_TOPIC_PREFIX to {to_prefix}, rebuild the projections, verify"
            " (docs/privacy-migration.md)"
        )


@app.command("check-evidence")
def check_evidence(
    from_prefix: Annotated[
        str | None,
        typer.Option("--from-prefix", help="The old prefix (to find the record by default)"),
    ] = None,
    evidence: EvidenceOption = None,
) -> None:
    """Check a migration record: its signature with the pinned key ring; that the old hashes
    chain to the source's last signed checkpoint and the new ones to the new log's (each under
    its log's suite and that suite's ring, as the record names them); and, where
    the topics exist, that both logs begin with exactly those events. The new prefix is
    CASETRAIL_TOPIC_PREFIX. Exit 0: it holds; 1: problems; 2: could not check."""
    from services.privacy.migration import record_suites
    from services.privacy.relog import MigrationRefused, audit_evidence, evidence_path

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    if evidence is None and from_prefix is None:
        raise typer.BadParameter("name the record (--evidence) or the old prefix (--from-prefix)")
    path = evidence or evidence_path(settings, str(from_prefix), settings.topic_prefix)
    try:
        check = asyncio.run(audit_evidence(settings, path))
    except MigrationRefused as error:
        raise fail("; ".join(error.reasons), code=2) from None
    except _errors() as error:
        raise fail(f"could not check: {error}", code=2) from None
    for problem in check.problems:
        typer.echo(f"problem: {problem}")
    header = check.header
    if check.valid:
        from_suite, to_suite = record_suites(header)
        typer.echo(
            f"{path}: {len(check.pairs)} events of {header['from_prefix']} map one to one onto"
            f" {header['to_prefix']}; signed chains hold"
            + ("" if from_suite is to_suite else f" ({from_suite} -> {to_suite})")
        )
    raise typer.Exit(code=0 if check.valid else 1)


@app.command("drop-old")
def drop_old(
    from_prefix: Annotated[
        str, typer.Option("--from-prefix", help="The old prefix, whose topics are deleted")
    ],
    evidence: EvidenceOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete them (without it: only name them)")
    ] = False,
) -> None:
    """Delete the old topics (<from-prefix>.*, the plaintext log among them) and their ACLs,
    once the new log (CASETRAIL_TOPIC_PREFIX) stands: the migration record checks, the new log
    begins with its events and the old log holds no event it did not copy. Back the record up
    first; backups of the old topics still hold the plaintext (docs/privacy-migration.md).
    Exit 0: deleted (or, without --yes, named); 1: refused."""
    from services.privacy.relog import MigrationRefused
    from services.privacy.relog import drop_old as run

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        topics = asyncio.run(run(Settings(), from_prefix, evidence, yes))
    except MigrationRefused as error:
        for line in error.reasons:
            typer.secho(f"refused: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    except _errors() as error:
        raise fail(f"could not: {error}", code=2) from None
    if not topics:
        typer.echo(f"no topics of {from_prefix} left")
    elif yes:
        typer.echo("deleted: " + ", ".join(topics))
    else:
        typer.echo("would delete (run again with --yes): " + ", ".join(topics))
