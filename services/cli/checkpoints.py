"""``casetrail checkpoints``: an operator's answer to a partition the decider refuses."""

import asyncio
import logging
from typing import Annotated

import typer

from services.cli.common import fail
from services.settings import Settings

app = typer.Typer(
    help="Signed checkpoints: adopting events no decider wrote, after investigation.",
    no_args_is_help=True,
)


@app.command("accept")
def accept(
    partition: Annotated[int, typer.Option(help="The partition the decider refuses", min=0)],
    through: Annotated[
        int, typer.Option(help="The offset of the last event to adopt (verify names it)", min=0)
    ],
    reason: Annotated[
        str,
        typer.Option(help="Why, for the auditors (signed into the checkpoint; verify shows it)"),
    ],
) -> None:
    """Adopt the events of a partition that no signed checkpoint covers, through an offset: sign
    a checkpoint over them with the decider's key (run it where that key is), saying that an
    operator adopted them and why. For events written before checkpoints covered every write,
    or found legitimate; the decider serves the partition again at its next check. Refused for
    events not well formed in their cases' chains. Exit 0: signed; 1: refused; 2: could not."""
    from services.integrity.shell import CannotAccept, CannotVerify, accept_events

    if not reason.strip():
        raise typer.BadParameter("say why, for the auditors", param_hint="--reason")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the error below says it once
    try:
        checkpoint, adopted = asyncio.run(accept_events(Settings(), partition, through, reason))
    except CannotAccept as error:
        for line in error.reasons:
            typer.secho(f"refused: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    except CannotVerify as error:
        raise fail(f"could not: {error}", code=2) from None
    typer.echo(
        f"p{partition}: {adopted} event{'' if adopted == 1 else 's'} adopted through offset"
        f" {through} (a checkpoint over {checkpoint.count} events, key {checkpoint.key_id})"
    )
