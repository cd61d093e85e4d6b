"""Fixtures of the fault suite (``make faults``; part of ``make test``)."""

from collections.abc import AsyncIterator

import pytest

from services.settings import Settings
from tests.support import own_topics


@pytest.fixture
async def log(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of its own for one test, and a decider that notices a dead peer within 6 s."""
    async with own_topics(servers, "faults", decider_session_timeout_ms=6000) as settings:
        yield settings
