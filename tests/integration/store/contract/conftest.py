"""The store contract suite: each test runs on SQLite (a file in tmp_path) and on
PostgreSQL (a schema of its own, skipped when the server is unreachable).

`store` is an open store; `open_store(**options)` opens another on the same database
(SQLite: the same file, after the first is closed; PostgreSQL: the same schema, as
another replica when given another `replica_id`). Every store is closed after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.store import RunStore
from tests.integration.store.contract.store_opener import StoreOpener
from tests.postgres_fixtures import SchemaFactory

BACKENDS = ["sqlite", "postgres"]


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
