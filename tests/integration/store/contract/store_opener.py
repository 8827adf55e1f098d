"""Opening stores of one backend on a test's database, for the store contract suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.store import PostgresRunStore, RunStore, SqliteRunStore
from tests.postgres_fixtures import PostgresSchema


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
