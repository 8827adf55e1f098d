"""The store contract suite: each test runs on SQLite (a file in tmp_path) and on
PostgreSQL (a schema of its own, skipped when the server is unreachable).

`store` is an open store; `open_store(**options)` opens another on the same database
(SQLite: the same file, after the first is closed; PostgreSQL: the same schema, as
another replica when given another `replica_id`). Every store is closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.store import PostgresRunStore, RunStore, SqliteRunStore
from tests.postgres_fixtures import PostgresSchema, SchemaFactory

BACKENDS = ["sqlite", "postgres"]


class StoreOpener:
    """Opens stores of one backend on the test's database."""

    def __init__(self, backend: str, path: Path, schema: PostgresSchema | None) -> None:
        self.backend = backend
        self.path = path
        self.schema = schema
        self.opened: list[RunStore] = []

    async def __call__(self, *, replica_id: str = "replica-a", **options: Any) -> RunStore:
        store: RunStore
        if self.schema is None:
            store = SqliteRunStore(self.path, **options)
        else:
            store = PostgresRunStore(self.schema.url, replica_id=replica_id, **options)
        await store.open()
        self.opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in reversed(self.opened):
            await store.close()


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreOpener]:
    schemas = SchemaFactory()
    schema = await schemas() if request.param == "postgres" else None
    opener = StoreOpener(request.param, tmp_path / "runs.db", schema)
    try:
        yield opener
    finally:
        await opener.close_all()
        await schemas.drop_all()


@pytest.fixture
async def store(open_store: StoreOpener) -> RunStore:
    return await open_store()
