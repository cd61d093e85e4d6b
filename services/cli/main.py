"""The ``casetrail`` command: local infrastructure, the services, and the demo."""

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from services.checkpoints import ensure_dev_key
from services.cli import infra
from services.settings import Settings

app = typer.Typer(
    help="CaseTrail: event-sourced case and complaint tracking on Kafka and PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
infra_app = typer.Typer(help="Local Kafka and PostgreSQL, without Docker.", no_args_is_help=True)
app.add_typer(infra_app, name="infra")


class Component(StrEnum):
    KAFKA = "kafka"
    POSTGRES = "postgres"


Components = Annotated[
    list[Component] | None,
    typer.Argument(help="Which servers (default: both)", show_default=False),
]


def _chosen(settings: Settings, which: list[Component] | None) -> list[infra.LocalServer]:
    everything = infra.components(settings)
    return [everything[c.value] for c in (which or list(Component))]


def _fail(error: Exception) -> typer.Exit:
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@infra_app.command("up")
def infra_up(which: Components = None) -> None:
    """Start Kafka and PostgreSQL if they do not answer, then create the topics and database."""
    settings = Settings()
    try:
        for server in _chosen(settings, which):
            server.up(typer.echo)
        if Component.KAFKA in (which or list(Component)):
            asyncio.run(infra.create_topics(settings, typer.echo))
            if ensure_dev_key(settings.signing_key_path):
                typer.echo(
                    f"checkpoints: created a development signing key {settings.signing_key_path}"
                )
    except infra.InfraError as error:
        raise _fail(error) from error


@infra_app.command("init")
def infra_init() -> None:
    """Create the topics, the database and a development signing key, on servers that already
    run (e.g. under Docker)."""
    settings = Settings()
    try:
        asyncio.run(infra.create_topics(settings, typer.echo))
        if ensure_dev_key(settings.signing_key_path):
            typer.echo(
                f"checkpoints: created a development signing key {settings.signing_key_path}"
            )
        asyncio.run(infra.LocalPostgres(settings).ensure_database(typer.echo))
    except (infra.InfraError, OSError) as error:
        raise _fail(error) from error


@infra_app.command("down")
def infra_down(which: Components = None) -> None:
    """Stop the servers that 'infra up' started (by pid); servers found running are left alone."""
    for server in _chosen(Settings(), which):
        server.down(typer.echo)


@infra_app.command("status")
def infra_status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Say which servers answer where, and which of them 'infra up' started."""
    statuses = [server.status() for server in _chosen(Settings(), None)]
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in statuses]))
        return
    for s in statuses:
        state = "answering" if s.answering else "not answering"
        owner = f"started by casetrail, pid {s.pid}" if s.pid else "not started by casetrail"
        typer.echo(f"{s.name:<9} {s.address:<16} {state:<14} {owner}")


# --- services ----------------------------------------------------------------------------


def _run_until_signalled(main: Callable[[Settings, asyncio.Event], Awaitable[None]]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(Settings(), stop)

    asyncio.run(runner())


@app.command()
def decider() -> None:
    """Run the decider: submissions in, events and outcomes out, in Kafka transactions."""
    from services.decider.runtime import run

    _run_until_signalled(run)


@app.command()
def projector() -> None:
    """Run the projector: events in, PostgreSQL read models out, offsets stored with the rows."""
    from services.projector.main import run

    _run_until_signalled(run)


HostOption = Annotated[str, typer.Option(help="Address to listen on")]


PortOption = Annotated[int | None, typer.Option(help="Port (default: from the settings)")]


@app.command()
def gateway(host: HostOption = "127.0.0.1", port: PortOption = None) -> None:
    """Run the gateway: departments POST submissions over HTTP."""
    from services.gateway.app import create_app

    settings = Settings()
    uvicorn.run(create_app(settings), host=host, port=port or settings.gateway_port)


@app.command()
def query(host: HostOption = "127.0.0.1", port: PortOption = None) -> None:
    """Run the query service: supervisors and auditors read cases and their history."""
    from services.query.app import create_app

    settings = Settings()
    uvicorn.run(create_app(settings), host=host, port=port or settings.query_port)


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option(help="Leave the services running until Ctrl-C")
    ] = True,
) -> None:
    """Start Kafka, PostgreSQL and every service, submit demo petitions, print the URL to open."""
    from services.cli.demo import run_demo

    try:
        run_demo(Settings(), keep_running=keep_running)
    except infra.InfraError as error:
        raise _fail(error) from error


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
        typer.Argument(help="complaint, petition, mediation or enforcement (default: all)"),
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
        raise _fail(ValueError(f"unknown case type {case_type!r}")) from None
    if output is Format.JSON:
        typer.echo(
            json.dumps([contract.describe(lc) for lc in chosen], ensure_ascii=False, indent=2)
        )
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
        raise _fail(ValueError("contract out of date: " + ", ".join(stale)))
    typer.echo(f"{len(stale)} file(s) {'stale' if check else 'written'}" if stale else "up to date")


tokens_app = typer.Typer(help="Bearer tokens for the HTTP services.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    import asyncpg

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return await work(conn)
    finally:
        await conn.close()


@tokens_app.command("create")
def tokens_create(
    department: Annotated[
        list[str] | None,
        typer.Option(help="Its department (department role); a supervisor's, if limited"),
    ] = None,
    role: Annotated[
        str, typer.Option(help="department, supervisor, auditor or public")
    ] = "department",
    name: Annotated[str, typer.Option(help="What the token is for")] = "",
) -> None:
    """Create a token; the secret is printed once, never stored."""
    from services.tokens import TokenRole, create

    try:
        chosen = TokenRole(role)
    except ValueError:
        raise typer.BadParameter(f"--role takes {', '.join(r.value for r in TokenRole)}") from None
    departments = department or []
    if chosen is TokenRole.DEPARTMENT and len(departments) != 1:
        raise typer.BadParameter("a department token needs exactly one --department")
    settings = Settings()
    label = name or ",".join(departments) or chosen.value
    token, secret = asyncio.run(_with_db(settings, lambda c: create(c, chosen, departments, label)))
    typer.echo(f"token {token.token_id} ({chosen.value} {','.join(departments)}):")
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token: id, role, departments, name, created, revoked."""
    from services.tokens import listed

    for token in asyncio.run(_with_db(Settings(), listed)):
        revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
        typer.echo(
            f"{token.token_id}  {token.role:<10} {','.join(token.departments):<16}"
            f" {token.name:<20} created {token.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id")]) -> None:
    """Revoke a token: the gateway refuses it within seconds."""
    from services.tokens import revoke

    if not asyncio.run(_with_db(Settings(), lambda c: revoke(c, token_id))):
        raise _fail(ValueError(f"no live token {token_id}"))
    typer.echo(f"token {token_id} revoked")


bench_app = typer.Typer(
    help="Benchmarks against the real broker, with a baseline.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


@bench_app.command("write")
def bench_write(
    submissions: Annotated[int, typer.Option(help="How many submissions", min=10)] = 20_000,
    per_case: Annotated[int, typer.Option(help="Submissions per case", min=2)] = 10,
    lone: Annotated[int, typer.Option(help="Submissions sent one at a time", min=10)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Decider throughput and latency vs raw aiokafka on the same broker (needs 'infra up')."""
    from services.bench import bench_write as run
    from services.bench import report

    say = (lambda _: None) if as_json else typer.echo
    result = asyncio.run(run(Settings(), submissions, per_case, lone, say))
    typer.echo(json.dumps(result, indent=2) if as_json else report(result))


@bench_app.command("rebuild")
def bench_rebuild(
    events: Annotated[int, typer.Option(help="Events on the log", min=1000)] = 1_000_000,
    cases: Annotated[int, typer.Option(help="Cases they belong to", min=100)] = 100_000,
    queries: Annotated[
        int, typer.Option(help="Then time this many API queries of each kind (0: none)")
    ] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Rebuild of each projection from a log of N events, against asyncpg COPY; then the query
    API's latency on that data, against the same SQL through asyncpg (needs infra up)."""
    from services.bench import bench_rebuild as run

    say = (lambda _: None) if as_json else typer.echo
    result = asyncio.run(run(Settings(), events, cases, say, queries))
    typer.echo(json.dumps(result, indent=2))


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
    from services import demo_year
    from services.cli.demo import demo_token
    from services.cli.demo import load_demo as load

    settings = Settings()
    load(gateway_url, token or asyncio.run(demo_token(settings)))
    typer.echo(f"the demo year: {asyncio.run(demo_year.load(settings, typer.echo))}")


@app.command("verify")
def verify_history(
    case: Annotated[
        str | None,
        typer.Option(help="Only this case's events and rows (its partition's chain still counts)"),
    ] = None,
    log_only: Annotated[
        bool, typer.Option("--log-only", help="Check Kafka only, not the audit trail")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Recompute every chain, check every signed checkpoint and compare the audit trail with the
    log row by row. Exit 0: intact; 1: problems, one line each; 2: could not verify."""
    from services.verify import CannotVerify, verify_system

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the error below says it once
    try:
        result = asyncio.run(verify_system(Settings(), case, audit_trail=not log_only))
    except CannotVerify as error:
        if as_json:
            typer.echo(json.dumps({"intact": None, "error": str(error)}, ensure_ascii=False))
        else:
            typer.secho(f"error: could not verify: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from error
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        for line in [*map(str, result.problems), result.summary(), *result.notes()]:
            typer.echo(line)
    raise typer.Exit(code=0 if result.intact else 1)


from services.cli import readpath_cli  # noqa: E402 - the read-path commands live there

app.command()(readpath_cli.lag)
app.command()(readpath_cli.rebuild)
app.command()(readpath_cli.replay)
app.command()(readpath_cli.stats)


if __name__ == "__main__":
    app()
