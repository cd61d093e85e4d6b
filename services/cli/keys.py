"""``casetrail keys``: the pinned key ring (public keys, with what each signs and when it was
valid) and the private keys that go with it, one PEM file each for whoever signs."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from services.cli.common import AsJson, fail
from services.integrity.keyring import (
    KeyPurpose,
    KeyRing,
    KeyRingError,
    RingKey,
    load_ring,
    new_key,
)
from services.integrity.signing import department_key_path
from services.settings import Settings

app = typer.Typer(
    help="The pinned key ring: whose signatures CaseTrail trusts (checkpoints, departments,"
    " the gateway), and the private keys.",
    no_args_is_help=True,
)

Purpose = Annotated[
    KeyPurpose,
    typer.Option(help="checkpoint (the decider's), department (with --department) or gateway"),
]
Department = Annotated[
    str | None, typer.Option(help="The department a department key signs for, e.g. 信访办")
]
Out = Annotated[
    Path | None,
    typer.Option(
        help="Where to write the private key (mode 600); default: CASETRAIL_SIGNING_KEY_FILE"
        " for a checkpoint key, CASETRAIL_GATEWAY_SIGNING_KEY_FILE for the gateway's,"
        " <state_dir>/keys/departments/<department>-ed25519.pem for a department's",
        show_default=False,
    ),
]
Note = Annotated[str, typer.Option(help="What the key is for, kept in the ring")]


def _private_path(settings: Settings, purpose: KeyPurpose, department: str | None) -> Path:
    """Where the one who signs with it looks for it (the settings' paths)."""
    if purpose is KeyPurpose.CHECKPOINT:
        return settings.signing_key_path
    if purpose is KeyPurpose.GATEWAY:
        return settings.gateway_signing_key_path
    assert department is not None
    try:
        return department_key_path(settings, department)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _checked(purpose: KeyPurpose, department: str | None) -> None:
    if (purpose is KeyPurpose.DEPARTMENT) != (department is not None):
        raise typer.BadParameter("--department goes with --purpose department, and only with it")


def _describe(key: RingKey) -> str:
    owner = f" {key.department}" if key.department else ""
    return f"{key.purpose.value}{owner} key {key.key_id}"


def _ring(settings: Settings) -> KeyRing:
    try:
        return load_ring(settings.key_ring_path)
    except KeyRingError as error:
        raise fail(error, code=2) from None


@app.command("create")
def create(
    purpose: Purpose = KeyPurpose.CHECKPOINT,
    department: Department = None,
    out: Out = None,
    note: Note = "",
) -> None:
    """Make a key pair: the private key to --out, the public key into the ring, valid from now.
    Give the private key to the one who signs with it (a checkpoint key: the decider only)."""
    _checked(purpose, department)
    settings = Settings()
    path = out or _private_path(settings, purpose, department)
    if path.exists():
        raise fail(f"{path} exists: 'casetrail keys rotate' replaces a key")
    if settings.key_ring_path.exists():
        _ring(settings)  # a ring that cannot be read is not overwritten
    key = new_key(
        settings.key_ring_path, path, purpose, department, note, suite=settings.crypto_suite
    )
    typer.echo(f"{_describe(key)}, valid from {key.valid_from.isoformat()}")
    typer.echo(f"  private key: {path} (mode 600)")
    typer.echo(f"  public key:  in the ring {settings.key_ring_path}")


@app.command("rotate")
def rotate(
    purpose: Purpose = KeyPurpose.CHECKPOINT,
    department: Department = None,
    out: Out = None,
    note: Note = "",
) -> None:
    """A new key for the same purpose (and department), valid from now; the keys valid until now
    stay in the ring, valid until now, so that what they signed still verifies. Only keys of
    the suite (CASETRAIL_CRYPTO_SUITE) are rotated: a ring shared by both suites keeps the
    other's. The new private key replaces the file at --out: a decider signing with that file
    takes it up at its next write (safest with the deciders stopped, see the README)."""
    _checked(purpose, department)
    settings = Settings()
    retiring = _ring(settings).current(purpose, department, suite=settings.crypto_suite)
    if not retiring:
        raise fail("no key of that purpose valid now: 'casetrail keys create' makes the first")
    path = out or _private_path(settings, purpose, department)
    key = new_key(
        settings.key_ring_path,
        path,
        purpose,
        department,
        note,
        retire_current=True,
        suite=settings.crypto_suite,
    )
    for old in retiring:
        typer.echo(f"{_describe(old)}: valid until {key.valid_from.isoformat()}")
    typer.echo(f"{_describe(key)}: valid from {key.valid_from.isoformat()}, private key {path}")


def _state(key: RingKey, now: datetime) -> str:
    if key.valid_at(now):
        return "valid"
    return "not yet valid" if now < key.valid_from else "retired"


@app.command("list")
def listed(as_json: AsJson = False) -> None:
    """The ring: each key's id, algorithm, purpose, department, validity and note (a key of
    another algorithm than the suite's, CASETRAIL_CRYPTO_SUITE, vouches for nothing)."""
    settings = Settings()
    ring, now = _ring(settings), datetime.now(UTC)
    if as_json:
        keys = [
            {**key.as_json(), "algorithm": key.algorithm.value, "state": _state(key, now)}
            for key in ring.keys
        ]
        document = {"ring": str(settings.key_ring_path), "keys": keys}
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    typer.echo(f"key ring {settings.key_ring_path} (suite {settings.crypto_suite.value}):")
    for key in ring.keys:
        until = f"{key.valid_until:%Y-%m-%d %H:%M:%S}" if key.valid_until else "…"
        typer.echo(
            f"{key.key_id}  {key.algorithm.value:<7} {key.purpose.value:<10}"
            f" {key.department or '-':<12}"
            f" {key.valid_from:%Y-%m-%d %H:%M:%S} to {until}  {_state(key, now):<13} {key.note}"
        )
