"""Fixtures of the fault suite (``make faults``; part of ``make test``)."""

import uuid
from collections.abc import AsyncIterator

import pytest

from services.adapters.kafka import create_topics, delete_topics
from services.settings import Settings


@pytest.fixture
async def log(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of its own for one test, and a decider that notices a dead peer within 6 s."""
    settings = servers.model_copy(
        update={
            "topic_prefix": f"{servers.topic_prefix}-{uuid.uuid4().hex[:6]}",
            "decider_session_timeout_ms": 6000,
        }
    )
    await create_topics(settings, lambda _: None)
    yield settings
    await delete_topics(settings)
