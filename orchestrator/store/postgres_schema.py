"""Connecting to the PostgreSQL run store and bringing its schema up to date at open.

Migrations are the numbered files `postgres_migrations/NNNN_<name>.sql`, shipped with the
package. Each pending one is applied in its own transaction together with its row in
`aura_schema_migrations (version, name, applied_at)`, under a transaction-level advisory
lock of the schema: replicas opening at once take turns, and the second one finds the
work done. A database recorded at a version newer than the newest file refuses to start
(an older orchestrator must not write a schema it does not know).

The schema lives where the connection's `search_path` points (the URL may say
`?search_path=aura_prod`; asyncpg passes unknown URL parameters as server settings); a
schema named there that does not exist yet is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from orchestrator.runs import FINAL_RUN_STATES
from orchestrator.store.base import StoreOpenError

#: SQL condition for "the run is not finished" (QUEUED counts as unfinished); the
#: partial indexes of the migrations use the same text.
UNFINISHED = f"state NOT IN ({', '.join(str(state) for state in sorted(FINAL_RUN_STATES))})"

CONNECT_TIMEOUT_S = 10.0
_MIGRATION_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS aura_schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every shipped migration, oldest first (versions 1, 2, 3... without gaps)."""
    folder = resources.files("orchestrator.store") / "postgres_migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [migration.version for migration in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"PostgreSQL migrations are not numbered 1..n: {found}")
    return tuple(found)


def schema_version() -> int:
    """The schema version this code writes: its newest migration."""
    return migrations()[-1].version


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:  # a bad port, say: drop whatever sits between ':' and '@'
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1@", url)


async def connect(url: str, *, what: str = "connection", **options: Any) -> asyncpg.Connection:
    """A connection to `url`; `StoreOpenError` (one line, no password) if there is none."""
    try:
        connection: asyncpg.Connection = await asyncpg.connect(
            url, timeout=CONNECT_TIMEOUT_S, **options
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise connect_error(url, error, what) from None
    except ValueError as error:  # a URL asyncpg cannot parse
        raise StoreOpenError(f"run store URL {redact(url)} is invalid: {error}") from None
    return connection


def connect_error(url: str, error: BaseException, what: str = "connection") -> StoreOpenError:
    problem = " ".join(str(error).split()) or type(error).__name__
    return StoreOpenError(f"run store {redact(url)}: {what} failed: {problem}")


async def current_schema(connection: asyncpg.Connection, url: str) -> str:
    """The schema the store's tables live in; creates the one `search_path` names if missing."""
    schema: str | None = await connection.fetchval("SELECT current_schema()")
    if schema is not None:
        return schema
    path: str = await connection.fetchval("SHOW search_path")
    wanted = next((part.strip().strip('"') for part in path.split(",") if "$" not in part), "")
    if not wanted:
        raise StoreOpenError(f"run store {redact(url)}: search_path {path!r} names no schema")
    await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(wanted)}")
    found: str | None = await connection.fetchval("SELECT current_schema()")
    if found is None:
        raise StoreOpenError(f"run store {redact(url)}: schema {wanted!r} cannot be used")
    return found


async def migrate(connection: asyncpg.Connection, url: str, schema: str) -> int:
    """Applies the pending migrations, one transaction each; returns the schema version.

    Raises `StoreOpenError` when the database is newer than this code.
    """
    code_version = schema_version()
    while True:
        async with connection.transaction():
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"aura_migrations:{schema}"
            )
            await connection.execute(_MIGRATIONS_TABLE)
            applied: int = await connection.fetchval(
                "SELECT coalesce(max(version), 0) FROM aura_schema_migrations"
            )
            if applied > code_version:
                raise StoreOpenError(
                    f"run store {redact(url)} has schema version {applied}, newer than this "
                    f"orchestrator's {code_version}: run a newer orchestrator"
                )
            if applied == code_version:
                return applied
            migration = migrations()[applied]  # version applied + 1
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO aura_schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
