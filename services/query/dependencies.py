"""What the query endpoints depend on: the pool, the settings, and who is calling. The app keeps
them on ``app.state`` (see ``create_app``); these read them from there for each request."""

from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from events.officers import Officer
from services.adapters.http import authenticated, database_unavailable
from services.privacy.keystore import KeyStore
from services.query.access import Reader
from services.settings import Settings
from services.tokens import TokenCache

# auto_error=False: a missing or malformed token gets the same {"code", "message"} 401 as an
# unknown one (from ``authenticated``). Declared all the same so that the OpenAPI document
# tells clients how to authenticate.
bearer = HTTPBearer(auto_error=False, description="A token from `casetrail tokens create`")


def _pool(request: Request) -> asyncpg.Pool:
    """The pool, once the read side is prepared (503 until PostgreSQL has answered once)."""
    if not request.app.state.ready:
        raise database_unavailable("waiting for PostgreSQL to answer for the first time")
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _directory(request: Request) -> dict[str, Officer]:
    officers: dict[str, Officer] = request.app.state.officers
    return officers


def _keystore(request: Request) -> KeyStore | None:
    keystore: KeyStore | None = request.app.state.keystore
    return keystore


def _tokens(request: Request) -> TokenCache:
    tokens: TokenCache = request.app.state.tokens
    return tokens


async def _reader(
    tokens: Annotated[TokenCache, Depends(_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Reader:
    presented = f"Bearer {credentials.credentials}" if credentials else None
    return Reader(await authenticated(tokens, presented))


async def _maybe_reader(
    tokens: Annotated[TokenCache, Depends(_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Reader | None:
    if credentials is None:
        return None
    return Reader(await authenticated(tokens, f"Bearer {credentials.credentials}"))


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
AppSettings = Annotated[Settings, Depends(_settings)]
Directory = Annotated[dict[str, Officer], Depends(_directory)]
"""The officer directory the service read at start (empty without one)."""
Keys = Annotated[KeyStore | None, Depends(_keystore)]
"""The key store that opens sealed personal data (None: the service has no master key)."""
Caller = Annotated[Reader, Depends(_reader)]
"""The reader a request's bearer token presents (401 without a live one)."""
MaybeCaller = Annotated[Reader | None, Depends(_maybe_reader)]
"""None without a token; the reader a token presents (401 for one that is not live)."""
