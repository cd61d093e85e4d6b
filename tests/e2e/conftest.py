"""Clients of the running services, for the end-to-end tests."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.settings import Settings
from tests.support import Service


@pytest.fixture
async def gateway(
    services: dict[str, Service], settings: Settings, petition_office_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    url = f"http://127.0.0.1:{settings.gateway_port}"
    headers = {"Authorization": f"Bearer {petition_office_token}"}
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        yield client


@pytest.fixture
async def query(
    services: dict[str, Service], settings: Settings, auditor_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The query service, as an auditor (who may read everything)."""
    url = f"http://127.0.0.1:{settings.query_port}"
    headers = {"Authorization": f"Bearer {auditor_token}"}
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=headers) as client:
        yield client
