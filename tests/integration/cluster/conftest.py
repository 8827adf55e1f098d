"""A PostgreSQL schema of its own for each test, with the store's migrations applied.

Skips when PostgreSQL is unreachable, fails instead under AURA_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

asyncpg = pytest.importorskip("asyncpg")

BASE_DSN = os.environ.get("AURA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
MIGRATIONS = Path(__file__).parents[3] / "orchestrator" / "store" / "postgres_migrations"
REQUIRED = os.environ.get("AURA_REQUIRE_SERVICES") == "1"


async def _connect(dsn: str) -> Any:
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if REQUIRED:
            pytest.fail(f"PostgreSQL is required (AURA_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"PostgreSQL unreachable at {BASE_DSN}: {error}")


@pytest.fixture
async def empty_pg_dsn() -> AsyncIterator[str]:
    """A DSN whose search_path is a fresh, empty schema; dropped after the test."""
    admin = await _connect(BASE_DSN)
    schema = f"aura_t_{secrets.token_hex(6)}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{BASE_DSN}?search_path={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()


@pytest.fixture
async def pg_dsn(empty_pg_dsn: str) -> str:
    """A fresh schema holding the store's tables (schema 1 and 2), applied here."""
    conn = await asyncpg.connect(empty_pg_dsn)
    try:
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await conn.execute(path.read_text())
    finally:
        await conn.close()
    return empty_pg_dsn
