"""A PostgreSQL schema that one service alone may use: owned by a role of its own, whose
password 'casetrail infra up' keeps in the state directory (mode 600), with PUBLIC revoked.

The key store (``casetrail_keys``) and the decider's case store (``casetrail_decider``) are
such schemas, in the read models' database: the read models' role is not granted them, and no
other service is given their passwords."""

import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from projections.db import connect
from services.integrity.keyring import write_private
from services.settings import Settings


class PrivateSchemaUnavailable(RuntimeError):
    """The schema's role has no password here (not set up), or no DSN was given."""


def role_dsn(settings: Settings, role: str, password_path: Path, setting: str) -> str:
    """The read models' server and database, signed in as ``role`` with its password file."""
    url = urlsplit(settings.postgres_dsn)
    try:
        password = password_path.read_text().strip()
    except OSError as error:
        raise PrivateSchemaUnavailable(
            f"no password for PostgreSQL role {role} at {password_path}: 'casetrail infra up'"
            f" makes one; or set {setting}"
        ) from error
    host = url.hostname or "127.0.0.1"
    netloc = f"{role}:{quote(password, safe='')}@{host}:{url.port or 5432}"
    return urlunsplit(url._replace(netloc=netloc))


def _password(path: Path) -> str:
    """The role's password, made (mode 600) if there is none yet."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24).encode() + b"\n", replace=False)
    return path.read_text().strip()


async def _signs_in(dsn: str) -> bool:
    try:
        async with connect(dsn, connect_timeout=10):
            return True
    except asyncpg.InvalidPasswordError:
        return False


async def ensure_private_schema(
    settings: Settings, role: str, schema: str, password_path: Path, setting: str
) -> None:
    """Development set-up: the role (with a password kept at ``password_path``) and its
    schema, which no other role may use. Signs in as the read models' role, which must be
    allowed to create roles (the local server's is)."""
    password = _password(password_path)
    async with connect(settings.postgres_dsn) as admin, admin.transaction():
        # One lock for every such schema: roles are shared by the server's databases.
        await admin.execute("SELECT pg_advisory_xact_lock($1)", 0x4B455953)
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists or not await _signs_in(role_dsn(settings, role, password_path, setting)):
            # A role of another state directory on the same server has another password:
            # this one's file wins (one state directory per server).
            verb = "ALTER" if exists else "CREATE"
            quoted = password.replace("'", "''")
            await admin.execute(f"{verb} ROLE {role} LOGIN PASSWORD '{quoted}'")
        await admin.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
        await admin.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
