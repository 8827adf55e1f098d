"""PostgreSQL schemas of the cluster tests, from the shared fixture (`postgres_schema`:
skips when the server is unreachable, fails under AURA_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_fixtures import PostgresSchema

MIGRATIONS = Path(__file__).parents[3] / "orchestrator" / "store" / "postgres_migrations"


@pytest.fixture
def empty_pg_dsn(postgres_schema: PostgresSchema) -> str:
    """A store URL on a fresh, empty schema (the store migrates it when it opens)."""
    return postgres_schema.url


@pytest.fixture
async def pg_dsn(postgres_schema: PostgresSchema) -> str:
    """A store URL on a fresh schema holding the tables of schema 1 and 2, applied here
    from the migration files (for the cluster SQL alone, without a store)."""
    conn = await postgres_schema.connect()
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await conn.execute(path.read_text())
    finally:
        await conn.close()
    return postgres_schema.url
