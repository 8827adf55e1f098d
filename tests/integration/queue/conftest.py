"""Fixtures of the run queue tests. `queue_store` is a fresh, open run store of each kind
the queue runs on: SQLite now; the PostgreSQL store joins `STORE_KINDS` (with the shared
fixture of tests/postgres_fixtures.py for its schema) and every store test runs on it too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.store import RunStore, SqliteRunStore
from tests.integration.queue.queue_helpers import StoreFactory

STORE_KINDS = ["sqlite"]


@pytest.fixture(params=STORE_KINDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    opened: list[RunStore] = []

    async def factory() -> RunStore:
        store = SqliteRunStore(tmp_path / "queue.db", linger_s=0)
        await store.open()
        opened.append(store)
        return store

    assert request.param == "sqlite"
    yield factory
    for store in opened:
        await store.close()


@pytest.fixture
async def queue_store(open_store: StoreFactory) -> RunStore:
    return await open_store()
