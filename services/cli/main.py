"""The ``casetrail`` command: local infrastructure, the services, the demo, and the auditor's and
operator's tools. Each group of commands lives in its own module; this one puts them together.

Commands import what they run inside their bodies, so that a command loads only what it runs:
the web framework and the services' runtimes load for the service that needs them.
"""

import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from services import logs
from services.cli import calendar, checkpoints, infra, keys, migrate, privacy, read_side, tokens
from services.cli.common import AsJson, fail
from services.settings import LogFormat, Settings

app = typer.Typer(
    help="CaseTrail: event-sourced case and complaint tracking on Kafka and PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(infra.app, name="infra")
app.add_typer(tokens.app, name="tokens")
app.add_typer(keys.app, name="keys")
app.add_typer(checkpoints.app, name="checkpoints")
app.add_typer(calendar.app, name="calendar")
app.add_typer(migrate.app, name="migrate")
app.command("erase")(privacy.erase)
app.command("retention")(privacy.retention)


@app.callback()
def _every_command(context: typer.Context) -> None:
    """Every command counts working days on the same calendar: the packages' years and the
    operator's schedules (``casetrail calendar``)."""
    if context.invoked_subcommand in ("calendar", "infra"):
        return  # they read the files themselves, or never count a deadline
    from services.adapters.calendar_files import install, install_and_warn

    # The services say at their start when a year is missing; a tool need not say it each time.
    services = ("decider", "projector", "query", "gateway", "demo")
    try:
        (install_and_warn if context.invoked_subcommand in services else install)(Settings())
    except ValueError as error:
        raise fail(error, code=2) from None


bench_app = typer.Typer(
    help="Benchmarks against the real broker, with a baseline.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


# --- services ----------------------------------------------------------------------------


def _observed(service: str) -> Settings:
    """The settings, with logging (text or JSON) and tracing (off, console or OTLP) set up as
    they say for ``service``."""
    from services.adapters import tracing

    settings = Settings()
    logs.configure(log_format=settings.log_format)
    tracing.configure(settings, service)
    return settings


def _uvicorn_logging(settings: Settings) -> dict[str, Any]:
    """uvicorn's own logging, or (JSON logs) none: its lines go through the root logger."""
    return {"log_config": None} if settings.log_format is LogFormat.JSON else {}


def _run_until_signalled(
    service: str, main: Callable[[Settings, asyncio.Event], Awaitable[None]], uvloop: bool = False
) -> None:
    """Run ``main`` until SIGINT or SIGTERM; with ``uvloop``, on uvloop's event loop (in C:
    less CPU for every socket read and write, of which a busy service makes thousands a
    second)."""
    settings = _observed(service)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(settings, stop)

    if not uvloop:
        asyncio.run(runner())
        return
    import uvloop as fast_loop

    with asyncio.Runner(loop_factory=fast_loop.new_event_loop) as loop_runner:
        loop_runner.run(runner())


@app.command()
def decider() -> None:
    """Run the decider: submissions in, events and outcomes out, in Kafka transactions; signed
    checkpoints with CASETRAIL_SIGNING_KEY_FILE, which the key ring must hold; GET /health and
    GET /metrics on CASETRAIL_DECIDER_HEALTH_PORT."""
    from events.suite import SuiteUnavailable
    from services.decider.health import HealthUnavailable
    from services.decider.officers import NoOfficers
    from services.decider.runtime import run
    from services.integrity.checkpoints import SigningKeyNotTrusted
    from services.integrity.keyring import KeyRingError
    from services.integrity.log_suite import SuiteMismatch
    from services.privacy.cipher import MasterKeyError
    from services.privacy.keystore import KeyStoreUnavailable

    refusals = (NoOfficers, SigningKeyNotTrusted, HealthUnavailable, KeyRingError)
    wrong_suite = (SuiteMismatch, SuiteUnavailable)
    try:
        _run_until_signalled("decider", run)
    except (*refusals, *wrong_suite, MasterKeyError, KeyStoreUnavailable) as error:
        raise fail(f"the decider does not start: {error}", code=2) from None


@app.command()
def projector() -> None:
    """Run the projector: events in, PostgreSQL read models out, offsets stored with the rows;
    GET /metrics on CASETRAIL_PROJECTOR_METRICS_PORT."""
    from services.adapters.plain_http import CannotListen
    from services.projector.main import run

    try:
        _run_until_signalled("projector", run, uvloop=True)
    except CannotListen as error:
        message = f"GET /metrics {error} (CASETRAIL_PROJECTOR_METRICS_HOST, _PORT)"
        raise fail(f"the projector does not start: {message}", code=2) from None


HostOption = Annotated[str, typer.Option(help="Address to listen on")]
PortOption = Annotated[int | None, typer.Option(help="Port (default: from the settings)")]


@app.command()
def gateway(host: HostOption = "127.0.0.1", port: PortOption = None) -> None:
    """Run the gateway: departments POST submissions over HTTP."""
    import uvicorn

    from services.gateway.app import create_app
    from services.integrity.signing import NoGatewayKey

    settings = _observed("gateway")
    try:
        gateway_app = create_app(settings)
    except NoGatewayKey as error:
        raise fail(error, code=2) from None
    # uvloop and httptools: the event loop and HTTP parser in C, a good part of what the
    # gateway spends per request in pure Python otherwise.
    uvicorn.run(
        gateway_app,
        host=host,
        port=port or settings.gateway_port,
        loop="uvloop",
        http="httptools",
        access_log=settings.gateway_access_log,
        **_uvicorn_logging(settings),
    )


@app.command()
def query(host: HostOption = "127.0.0.1", port: PortOption = None) -> None:
    """Run the query service: supervisors and auditors read cases and their history."""
    import uvicorn

    from services.query.app import create_app

    settings = _observed("query")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port or settings.query_port,
        **_uvicorn_logging(settings),
    )


# --- the demo ------------------------------------------------------------------------------


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option(help="Leave the services running until Ctrl-C")
    ] = True,
) -> None:
    """Start Kafka, PostgreSQL and every service, submit demo petitions, print the URL to open."""
    from services.adapters.kafka import TopologyError
    from services.demo.run import run_demo
    from services.infra import InfraError

    try:
        run_demo(Settings(), keep_running, typer.echo)
    except (InfraError, TopologyError) as error:
        raise fail(error) from error


# --- the contract --------------------------------------------------------------------------


@app.command()
def asyncapi() -> None:
    """Print the AsyncAPI document of the Kafka contract (submissions in, outcomes out)."""
    from services.cli.contract import asyncapi_document

    typer.echo(json.dumps(asyncapi_document(), ensure_ascii=False, indent=2))


class Format(StrEnum):
    TABLE = "table"
    MERMAID = "mermaid"
    JSON = "json"


@app.command()
def lifecycle(
    case_type: Annotated[
        str | None,
        typer.Argument(
            help="complaint, petition, mediation, enforcement or disclosure (default: all)"
        ),
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="How to print it")] = Format.TABLE,
) -> None:
    """Print each lifecycle: statuses, steps, who may take them, deadlines."""
    from events import contract
    from events.lifecycles import LIFECYCLES
    from events.model import CaseType

    try:
        chosen = [LIFECYCLES[CaseType(case_type)]] if case_type else list(LIFECYCLES.values())
    except ValueError:
        raise fail(f"unknown case type {case_type!r}") from None
    if output is Format.JSON:
        described = [contract.describe(lc) for lc in chosen]
        typer.echo(json.dumps(described, ensure_ascii=False, indent=2))
    else:
        render = contract.mermaid if output is Format.MERMAID else contract.table
        typer.echo("\n".join(render(lc) for lc in chosen), nl=False)


@app.command("contract")
def write_contract(
    out: Annotated[Path, typer.Option(help="Where to write it")] = Path("docs"),
    check: Annotated[
        bool, typer.Option("--check", help="Only compare; exit 1 if a file would change")
    ] = False,
) -> None:
    """Write the published contract: JSON Schemas, AsyncAPI document, lifecycle diagrams."""
    from services.cli.contract import contract_files

    stale = []
    for relative, text in contract_files().items():
        path = out / relative
        current = path.read_text("utf-8") if path.exists() else None
        if current != text:
            stale.append(str(path))
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, "utf-8")
    if check and stale:
        raise fail("contract out of date: " + ", ".join(stale))
    typer.echo(f"{len(stale)} file(s) {'stale' if check else 'written'}" if stale else "up to date")


@app.command("load-demo")
def load_demo(
    gateway_url: Annotated[
        str, typer.Option("--gateway", help="The gateway's base URL")
    ] = "http://127.0.0.1:8000",
    token: Annotated[
        str | None, typer.Option(help="A 信访办 token (default: create one in the database)")
    ] = None,
) -> None:
    """Load the demo into a running system (e.g. one started by docker compose): a few
    petitions through the gateway, then the demo year 2019-2020 through Kafka."""
    from services.demo.petitions import load_petitions
    from services.demo.run import demo_token
    from services.demo.year import load

    settings = Settings()
    load_petitions(gateway_url, token or asyncio.run(demo_token(settings)), typer.echo)
    typer.echo(f"the demo year: {asyncio.run(load(settings, typer.echo))}")


# --- benchmarks ------------------------------------------------------------------------------


@bench_app.command("write")
def bench_write(
    submissions: Annotated[int, typer.Option(help="How many submissions", min=10)] = 20_000,
    per_case: Annotated[int, typer.Option(help="Submissions per case", min=2)] = 10,
    lone: Annotated[int, typer.Option(help="Submissions sent one at a time", min=10)] = 200,
    unsigned: Annotated[
        bool,
        typer.Option(
            "--unsigned",
            help="Without signatures: submissions unsigned, the decider requiring none"
            " (to compare with the default, where each is signed and verified)",
        ),
    ] = False,
    plaintext: Annotated[
        bool,
        typer.Option(
            "--plaintext",
            help="Personal data appended in plaintext (the decider runs with"
            " CASETRAIL_SEAL_PERSONAL_DATA=false), to compare with the default, where it is sealed",
        ),
    ] = False,
    deciders: Annotated[
        int, typer.Option(help="Decider processes sharing the partitions (default: one per core)")
    ] = 0,
    misplaced: Annotated[
        bool,
        typer.Option(
            "--misplaced",
            help="Also the same rounds with every submission published to another partition"
            " than its case's: what the decider's forward to the case's partition costs",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Decider throughput and latency vs raw aiokafka on the same broker (needs 'infra up'),
    and what signing, verifying and sealing cost per submission."""
    from services.bench.write import bench_write as run
    from services.bench.write import report
    from services.progress import quiet

    say = quiet if as_json else typer.echo
    result = asyncio.run(
        run(
            Settings(),
            submissions,
            per_case,
            lone,
            say,
            not unsigned,
            not plaintext,
            deciders or os.cpu_count() or 1,
            misplaced,
        )
    )
    typer.echo(json.dumps(result, indent=2) if as_json else report(result))


@bench_app.command("takeover")
def bench_takeover(
    submissions: Annotated[int, typer.Option(help="Submissions decided first", min=100)] = 50_000,
    per_case: Annotated[int, typer.Option(help="Submissions per case", min=2)] = 10,
    as_json: AsJson = False,
) -> None:
    """How long a restarted decider takes to serve its partitions: from its snapshots, and
    folding the whole log, against raw aiokafka reading the same records (needs infra up)."""
    from services.bench.takeover import bench_takeover as run
    from services.progress import quiet

    say = quiet if as_json else typer.echo
    result = asyncio.run(run(Settings(), submissions, per_case, say))
    typer.echo(json.dumps(result, indent=2))


@bench_app.command("soak")
def bench_soak(
    rate: Annotated[float, typer.Option(help="New petitions offered per second", min=1)] = 500,
    seconds: Annotated[float, typer.Option(help="How long to offer them", min=1)] = 600,
    find_max: Annotated[
        bool,
        typer.Option(
            "--find-max",
            help="Step the rate up from --rate (x1.25 a step) until a step is not sustained:"
            " under 97% accepted in time, anything shed, or accepted p99 over --p99-limit-ms",
        ),
    ] = False,
    step_seconds: Annotated[
        float, typer.Option(help="With --find-max: how long each rate is held", min=5)
    ] = 30,
    max_rate: Annotated[float, typer.Option(help="With --find-max: never above this")] = 2000,
    p99_limit_ms: Annotated[
        float, typer.Option(help="With --find-max: the accepted answers' p99 a step may have")
    ] = 500,
    connections: Annotated[
        int, typer.Option(help="The load generator's most open connections", min=1)
    ] = 1000,
    as_json: AsJson = False,
) -> None:
    """Open-loop load on the interactive path (gateway, decider, projector of its own, needs
    'infra up'): offered vs completed rate, gateway latency, projection lag, memory, and CPU
    per submission of each process, the broker and PostgreSQL included."""
    from services.bench.soak import bench_soak as run
    from services.bench.soak import report
    from services.progress import quiet

    say = quiet if as_json else typer.echo
    result = asyncio.run(
        run(
            Settings(),
            rate,
            seconds,
            say,
            find_max=find_max,
            step_seconds=step_seconds,
            max_rate=max_rate,
            p99_limit_ms=p99_limit_ms,
            connections=connections,
        )
    )
    typer.echo(json.dumps(result, indent=2) if as_json else report(result))


@bench_app.command("rebuild")
def bench_rebuild(
    events: Annotated[int, typer.Option(help="Events on the log", min=1000)] = 1_000_000,
    cases: Annotated[int, typer.Option(help="Cases they belong to", min=100)] = 100_000,
    queries: Annotated[
        int, typer.Option(help="Then time this many API queries of each kind (0: none)")
    ] = 300,
    as_json: AsJson = False,
) -> None:
    """Rebuild of each projection from a log of N events, against asyncpg COPY; then the query
    API's latency on that data, against the same SQL through asyncpg (needs infra up)."""
    from services.bench.rebuild import bench_rebuild as run
    from services.progress import quiet

    say = quiet if as_json else typer.echo
    result = asyncio.run(run(Settings(), events, cases, say, queries))
    typer.echo(json.dumps(result, indent=2))


@bench_app.command("verify")
def bench_verify(
    events: Annotated[int, typer.Option(help="Events on the log", min=1000)] = 200_000,
    cases: Annotated[int, typer.Option(help="Cases they belong to", min=100)] = 20_000,
    queries: Annotated[int, typer.Option(help="As-of queries of each kind timed", min=1)] = 20,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the topics and database (their settings in a file)"),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """The auditor's tools on a signed log of N events: verify's time and peak memory (in a
    process of its own), and the latency of statistics and a case as of past instants,
    against folding the log (needs infra up)."""
    from services.bench.verify import bench_verify as run
    from services.progress import on_stderr

    # The figures are JSON on stdout either way, so progress (hours at full size) stays on.
    del as_json
    result = asyncio.run(run(Settings(), events, cases, on_stderr, queries, keep))
    typer.echo(json.dumps(result, indent=2))


@bench_app.command("scale")
def bench_scale(
    cases: Annotated[int, typer.Option(help="Cases on the log", min=10)] = 1_000_000,
    events: Annotated[
        int, typer.Option(help="Events on the log (each submission appends one)", min=100)
    ] = 10_000_000,
    queries: Annotated[int, typer.Option(help="As-of queries of each kind timed", min=1)] = 20,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the topics and database (their settings in a file)"),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Everything at scale on one partition set (by default 1 million cases, 10 million
    events, generated with the decider's snapshots): the decider's take-over time and resident
    memory (two starts), verify's time and peak memory, an as-of statistics query's latency
    and the audit trail's rebuild rate, each beside a baseline (raw aiokafka reads, asyncpg
    COPY). Progress on stderr, JSON figures on stdout (needs infra up). The full size takes
    hours on 2 cores and some 20 GB of disk; the decider gets at most 70% of the memory
    available, and a take-over needing more is reported as failed."""
    from services.bench.scale import bench_scale as run
    from services.progress import on_stderr

    del as_json  # as for bench verify: JSON on stdout, progress on stderr, always
    result = asyncio.run(run(Settings(), cases, events, on_stderr, queries, keep))
    typer.echo(json.dumps(result, indent=2))


# --- verification ----------------------------------------------------------------------------


@app.command("verify")
def verify_history(
    case: Annotated[
        str | None,
        typer.Option(help="Only this case's events and rows (its partition's chain still counts)"),
    ] = None,
    log_only: Annotated[
        bool, typer.Option("--log-only", help="Check Kafka only, not the audit trail")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Recompute every chain, check every checkpoint against the pinned key ring
    (CASETRAIL_KEY_RING_FILE), name every event no trusted checkpoint covers (once older than
    CASETRAIL_VERIFY_GRACE_S), and compare the audit trail with the log row by row, in one pass
    over each (memory bounded by the number of cases, not of events). Exit 0: intact; 1:
    problems, one line each; 2: could not verify. Progress, the time and the peak memory it
    took go to stderr."""
    from services.integrity.shell import CannotVerify, verify_system
    from services.progress import on_stderr, peak_memory_mib

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the error below says it once
    started = time.monotonic()
    try:
        # Progress on stderr: stdout is the verdict (and JSON with --json).
        run = verify_system(Settings(), case, audit_trail=not log_only, say=on_stderr)
        result = asyncio.run(run)
    except CannotVerify as error:
        if as_json:
            typer.echo(json.dumps({"intact": None, "error": str(error)}, ensure_ascii=False))
            raise typer.Exit(code=2) from error
        raise fail(f"could not verify: {error}", code=2) from error
    if sys.stderr.isatty():
        typer.echo("", err=True)  # after the progress line
    typer.echo(
        f"verified in {time.monotonic() - started:.1f} s, peak memory {peak_memory_mib():.0f} MiB",
        err=True,
    )
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in [*map(str, result.problems), result.summary(), *result.notes()]:
            typer.echo(line)
    raise typer.Exit(code=0 if result.intact else 1)


# The read path's commands come last in the help, after the services and the auditor's verify.
for command in (read_side.lag, read_side.rebuild, read_side.replay, read_side.stats):
    app.command()(command)

if __name__ == "__main__":
    app()
