"""Fixtures for engine tests that drive an `Engine` directly (no orchestrator server)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.engine import DefinitionCatalog
from orchestrator.store import SqliteRunStore
from orchestrator.workflows import MethodRegistry


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[DefinitionCatalog]:
    """The seed definitions and the default method registry, over a store of their own."""
    async with SqliteRunStore(tmp_path / "catalog.db") as store:
        catalog = DefinitionCatalog(store, MethodRegistry.default())
        await catalog.load()
        yield catalog
