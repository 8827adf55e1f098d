"""The gateway on port 0 in front of the real orchestrator of tests/integration/conftest.py,
and an HTTP client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from orchestrator.gateway import ConsoleServer


@pytest.fixture
async def http(console: ConsoleServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as client:
        yield client
