"""The token cache on the real PostgreSQL: answers are remembered, and memory stays bounded."""

import secrets

from services.settings import Settings
from services.tokens import TokenCache, TokenRole
from tests.conftest import make_token


async def test_made_up_tokens_never_grow_the_cache_past_its_capacity(servers: Settings) -> None:
    real = await make_token(servers, TokenRole.AUDITOR, [])
    cache = TokenCache(capacity=5)
    await cache.start(servers.postgres_dsn)
    try:
        for _ in range(50):
            assert (
                await cache.holder(f"ct_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}") is None
            )
            assert len(cache.known) <= 5
        token = await cache.holder(real)
        assert token is not None
        assert token.role is TokenRole.AUDITOR
        assert len(cache.known) == 5
        assert next(reversed(cache.known)) == real  # the newest answer is kept
    finally:
        await cache.stop()
