"""PostgreSQL for tests: every test gets its own schema, dropped after it.

The server is `AURA_TEST_POSTGRES_URL` (default `postgresql://postgres@127.0.0.1:5432/test`,
trust auth). A test using these fixtures skips, saying why, when that server cannot be
reached, and FAILS instead when `AURA_REQUIRE_SERVICES=1` (CI, where the server must be
there). Registered for every test by `tests/conftest.py` (`pytest_plugins`).

- `postgres_schema`: one fresh schema `aura_t_<hex>`; its `url` points a store at it
  (`search_path` and an `application_name` equal to the schema, so a test can find the
  store's server backends, e.g. to terminate them).
- `postgres_schemas`: the factory behind it, for a test that needs several.

Plain helpers (`postgres_url`, `admin_connect`) are imported from this module.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_CONNECT_TIMEOUT_S = 3.0
_unreachable: list[str] = []  # why the server could not be reached, once found out


def postgres_url() -> str:
    return os.environ.get("AURA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def services_required() -> bool:
    return os.environ.get("AURA_REQUIRE_SERVICES") == "1"


def with_params(url: str, **params: str) -> str:
    """`url` with query parameters added (asyncpg passes unknown ones as server settings)."""
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))


async def admin_connect(schema: str | None = None) -> asyncpg.Connection:
    """A connection of the test itself (not of a store), in `schema` if given."""
    settings = {"search_path": schema} if schema else {}
    return await asyncpg.connect(
        postgres_url(), timeout=_CONNECT_TIMEOUT_S, server_settings=settings
    )


@dataclass(frozen=True)
class PostgresSchema:
    """A schema of one test: `url` for a store, `connect()` for the test's own queries."""

    name: str
    url: str

    async def connect(self) -> asyncpg.Connection:
        return await admin_connect(self.name)

    def url_for(self, **params: str) -> str:
        """The store URL with more parameters (e.g. `user=` of a role the test made)."""
        return with_params(self.url, **params)

    async def terminate_backends(self) -> int:
        """Ends every server backend of stores on this schema (pg_terminate_backend)."""
        admin = await admin_connect()
        try:
            return int(
                await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    self.name,
                )
            )
        finally:
            await admin.close()


async def require_server() -> None:
    """Skips the test (fails it with AURA_REQUIRE_SERVICES=1) if the server is unreachable."""
    if not _unreachable:
        try:
            connection = await admin_connect()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            _unreachable.append(f"{type(error).__name__}: {error}")
        else:
            await connection.close()
            _unreachable.append("")
    if _unreachable[0]:
        why = f"PostgreSQL at {postgres_url()} is unreachable ({_unreachable[0]})"
        if services_required():
            pytest.fail(f"{why}; AURA_REQUIRE_SERVICES=1 requires it")
        pytest.skip(f"{why}; set AURA_TEST_POSTGRES_URL to test the PostgreSQL store")


class SchemaFactory:
    """Makes fresh schemas; `drop_all()` ends their stores' backends and drops them."""

    def __init__(self) -> None:
        self._made: list[str] = []

    async def __call__(self) -> PostgresSchema:
        await require_server()
        name = f"aura_t_{secrets.token_hex(6)}"
        admin = await admin_connect()
        try:
            await admin.execute(f"CREATE SCHEMA {name}")
        finally:
            await admin.close()
        self._made.append(name)
        url = with_params(postgres_url(), search_path=name, application_name=name)
        return PostgresSchema(name, url)

    async def drop_all(self) -> None:
        made, self._made = self._made, []
        if not made:
            return
        admin = await admin_connect()
        try:
            for name in made:
                await PostgresSchema(name, "").terminate_backends()
                await admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        finally:
            await admin.close()


@pytest.fixture
async def postgres_schemas() -> AsyncIterator[Callable[[], Awaitable[PostgresSchema]]]:
    """A factory of fresh schemas; all of them are dropped after the test."""
    await require_server()
    factory = SchemaFactory()
    try:
        yield factory
    finally:
        await factory.drop_all()


@pytest.fixture
async def postgres_schema(
    postgres_schemas: Callable[[], Awaitable[PostgresSchema]],
) -> PostgresSchema:
    """One fresh schema for this test."""
    return await postgres_schemas()
