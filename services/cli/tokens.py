"""``casetrail tokens``: bearer tokens for the HTTP services."""

from typing import Annotated

import typer

from services import tokens
from services.cli.common import fail, on_database
from services.settings import Settings
from services.tokens import TokenRole

app = typer.Typer(help="Bearer tokens for the HTTP services.", no_args_is_help=True)


@app.command("create")
def create(
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
    try:
        chosen = TokenRole(role)
    except ValueError:
        raise typer.BadParameter(f"--role takes {', '.join(r.value for r in TokenRole)}") from None
    departments = department or []
    if chosen is TokenRole.DEPARTMENT and len(departments) != 1:
        raise typer.BadParameter("a department token needs exactly one --department")
    label = name or ",".join(departments) or chosen.value
    token, secret = on_database(
        Settings(), lambda conn: tokens.create(conn, chosen, departments, label)
    )
    typer.echo(f"token {token.token_id} ({chosen.value} {','.join(departments)}):")
    typer.echo(secret)


@app.command("list")
def listed() -> None:
    """Every token: id, role, departments, name, created, revoked."""
    for token in on_database(Settings(), tokens.listed):
        revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
        typer.echo(
            f"{token.token_id}  {token.role:<10} {','.join(token.departments):<16}"
            f" {token.name:<20} created {token.created_at:%Y-%m-%d %H:%M}  {revoked}"
        )


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id")]) -> None:
    """Revoke a token: the gateway refuses it within seconds."""
    if not on_database(Settings(), lambda conn: tokens.revoke(conn, token_id)):
        raise fail(f"no live token {token_id}")
    typer.echo(f"token {token_id} revoked")
