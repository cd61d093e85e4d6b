"""The token cache on the real PostgreSQL: live tokens are remembered (by hash, never by secret),
made-up ones never are, and memory stays bounded."""

import asyncio
import hashlib
import secrets

from services.settings import Settings
from services.tokens import TokenCache, TokenRole
from tests.conftest import make_token


def made_up() -> str:
    return f"ct_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"


async def test_made_up_tokens_are_never_remembered(servers: Settings) -> None:
    real = await make_token(servers, TokenRole.AUDITOR, [])
    cache = TokenCache(capacity=5)
    await cache.start(servers.postgres_dsn)
    try:
        token = await cache.holder(real)
        assert token is not None
        assert token.role is TokenRole.AUDITOR
        for _ in range(50):
            assert await cache.holder(made_up()) is None
        # Only the real token is held, and by the hash PostgreSQL keeps, not by its secret.
        assert list(cache.known) == [hashlib.sha256(real.encode()).hexdigest()]
        assert await cache.holder(real) == token
    finally:
        await cache.stop()


async def test_live_tokens_are_remembered_up_to_the_capacity_most_recent_first(
    servers: Settings,
) -> None:
    secrets_ = [await make_token(servers, TokenRole.PUBLIC, []) for _ in range(7)]
    cache = TokenCache(capacity=5)
    await cache.start(servers.postgres_dsn)
    try:
        for secret in secrets_:
            assert await cache.holder(secret) is not None
            assert len(cache.known) <= 5
        assert await cache.holder(secrets_[2]) is not None  # used again: the newest
        hashes = [hashlib.sha256(s.encode()).hexdigest() for s in secrets_]
        assert list(cache.known) == [hashes[i] for i in (3, 4, 5, 6, 2)]
        assert all(secret not in repr(cache.known) for secret in secrets_)
    finally:
        await cache.stop()


async def test_requests_that_come_while_a_token_is_looked_up_wait_for_that_lookup(
    servers: Settings,
) -> None:
    """A busy token whose answer expired: the requests of the next moment share one lookup
    (one connection of the pool, which opens them as needed), not one each."""
    real = await make_token(servers, TokenRole.DEPARTMENT, ["信访办"])
    cache = TokenCache()
    await cache.start(servers.postgres_dsn)
    try:
        assert cache.pool is not None
        answers = await asyncio.gather(*(cache.holder(real) for _ in range(50)))
        assert len({answer for answer in answers}) == 1
        assert answers[0] is not None
        assert answers[0].departments == ("信访办",)
        assert cache.pool.get_size() == 1
        assert cache.looking == {}
        made = [made_up() for _ in range(3)]  # unknown ones too: each its own lookup, None
        assert (
            await asyncio.gather(*(cache.holder(m) for m in made for _ in range(5))) == [None] * 15
        )
        assert cache.looking == {}
    finally:
        await cache.stop()
