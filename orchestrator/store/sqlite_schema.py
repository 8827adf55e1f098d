"""SQLite tables, indexes and connection settings of the run store, and the checks at open."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from aura.orchestrator.v1 import run_pb2
from orchestrator.runs import FINAL_RUN_STATES
from orchestrator.store.base import Durability, StoreOpenError
from orchestrator.store.sqlite_outbox import SCHEMA as OUTBOX_SCHEMA

#: 1: runs, events, definitions. 2: runs.priority and the queue's indexes. 3: the outbox
#: of the event bus (`sqlite_outbox`; empty unless the bus is on). 4: runs.run_tenant, and
#: request ids kept per tenant (`tenant/request_id`, see orchestrator.runs.request_key).
SCHEMA_VERSION = 4

QUEUED_STATE = run_pb2.RUN_STATE_QUEUED
#: SQL condition for "the run is not finished"; the partial index uses the same text.
UNFINISHED = f"state NOT IN ({', '.join(str(state) for state in sorted(FINAL_RUN_STATES))})"
#: SQL condition for "the run is unfinished and not queued" (PENDING or RUNNING): what a
#: definition's max_concurrent_runs counts and what a restart resumes. Same text as its index.
ACTIVE = f"state NOT IN ({', '.join(str(s) for s in sorted({*FINAL_RUN_STATES, QUEUED_STATE}))})"
#: SQL condition for a queued run; the queue index uses the same text.
IN_QUEUE = f"state = {QUEUED_STATE}"

# Schema 2. The queue in claim order (highest priority, then oldest), covering what a
# claim reads (`state` too: without it SQLite reads each row to check the partial index's
# condition, 1.7x slower); the runs a definition's concurrency limit counts, and the
# runs a restart resumes.
_QUEUE_INDEXES = f"""
CREATE INDEX IF NOT EXISTS runs_queue
    ON runs (priority DESC, id, workflow_definition, name, state) WHERE {IN_QUEUE};
CREATE INDEX IF NOT EXISTS runs_active ON runs (workflow_definition, create_time_us) WHERE {ACTIVE};
"""
# Schema 4: a tenant's runs newest first (every list a client asks is one tenant's).
_TENANT_INDEX = """
CREATE INDEX IF NOT EXISTS runs_tenant_newest_first ON runs (run_tenant, create_time_us, name);
"""
# What takes a file of an older schema to this one, by the version it leads to. Each
# runs in one transaction with the version bump; the file keeps every row.
_MIGRATIONS = {
    2: "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;" + _QUEUE_INDEXES,
    3: OUTBOX_SCHEMA,
    4: "ALTER TABLE runs ADD COLUMN run_tenant TEXT NOT NULL DEFAULT 'default';"
    "UPDATE runs SET request_id = 'default/' || request_id WHERE request_id IS NOT NULL;"
    + _TENANT_INDEX,
}

# Events live in a rowid table (appended at its end) with a small unique index on the
# integer run id and seq: a batch touching thousands of runs then dirties few pages. A
# table clustered on (run name, seq) was 3x slower to write for interleaved runs.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    workflow_definition TEXT NOT NULL,
    state               INTEGER NOT NULL,
    create_time_us      INTEGER NOT NULL,
    end_time_us         INTEGER,
    labels              TEXT NOT NULL DEFAULT '{{}}',  -- JSON object, read with json_extract
    request_id          TEXT,                          -- NULL when the run has none
    fingerprint         TEXT NOT NULL DEFAULT '',
    last_seq            INTEGER NOT NULL,
    priority            INTEGER NOT NULL DEFAULT 0,  -- schema 2: the run queue's order
    run_tenant          TEXT NOT NULL DEFAULT 'default'  -- schema 4: whose run it is
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_request_id
    ON runs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_newest_first ON runs (create_time_us, name);
{_TENANT_INDEX}
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (create_time_us) WHERE {UNFINISHED};
-- Retention: finished runs, oldest end first (only a run's final event touches it).
CREATE INDEX IF NOT EXISTS runs_finished ON runs (end_time_us) WHERE end_time_us IS NOT NULL;

{_QUEUE_INDEXES}
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL,  -- runs.id
    seq    INTEGER NOT NULL,
    body   BLOB NOT NULL      -- a serialized aura.orchestrator.v1.RunEvent
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);

-- Written and emptied in one transaction to learn whether the store can write again.
CREATE TABLE IF NOT EXISTS store_probe (body BLOB);

CREATE TABLE IF NOT EXISTS definitions (
    name TEXT PRIMARY KEY,
    body BLOB NOT NULL   -- a serialized aura.orchestrator.v1.WorkflowDefinition
) WITHOUT ROWID;
{OUTBOX_SCHEMA}"""

_BUSY_TIMEOUT_MS = 10_000
# Files up to this size get a full `PRAGMA quick_check` at open (about 2 s per GB here);
# a bigger one has its small tables checked, and a damaged event page is found when read
# or written (SQLITE_CORRUPT: the store then reports itself unable to write).
FULL_CHECK_MAX_BYTES = 2 * 1024**3
_SMALL_TABLES = ("runs", "definitions")


# What a start-up error says about the file, by SQLite primary result code.
_OPEN_PROBLEMS = {
    sqlite3.SQLITE_NOTADB: "is not a SQLite database",
    sqlite3.SQLITE_CORRUPT: "is damaged",
    sqlite3.SQLITE_READONLY: "is read-only",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened",
    sqlite3.SQLITE_IOERR: "cannot be read or written",
    sqlite3.SQLITE_FULL: "has no room left on its disk",
    sqlite3.SQLITE_PERM: "is not accessible",
}


def connect_writer(path: Path, durability: Durability) -> sqlite3.Connection:
    """The one connection that writes; creates the file, directory and schema if missing.

    Raises `StoreOpenError` (one line naming the path and the problem) when the directory
    cannot be made or written, or the file is not a sound database: `PRAGMA quick_check`
    reads every page (of the small tables only, past `FULL_CHECK_MAX_BYTES`), so a damaged
    file is refused rather than served and written into.
    """
    _check_directory(path.parent)
    try:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise _open_error(path, error) from None
    try:
        _configure_writer(connection, path, durability)
    except sqlite3.Error as error:
        connection.close()
        raise _open_error(path, error) from None
    except BaseException:
        connection.close()
        raise
    return connection


def _check_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreOpenError(
            f"run store directory {directory} cannot be created: {error.strerror or error}"
        ) from None
    if not directory.is_dir():
        raise StoreOpenError(f"run store directory {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreOpenError(
            f"run store directory {directory} is read-only (the store writes its file, "
            "WAL and shared-memory index there)"
        )


def _open_error(path: Path, error: sqlite3.Error) -> StoreOpenError:
    code = getattr(error, "sqlite_errorcode", None)
    problem = _OPEN_PROBLEMS.get(code & 0xFF if isinstance(code, int) else -1, "cannot be used")
    return StoreOpenError(f"run store {path} {problem} ({error})")


def _configure_writer(connection: sqlite3.Connection, path: Path, durability: Durability) -> None:
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreOpenError(f"run store {path} cannot use WAL journal mode (got {mode!r})")
    problems = _quick_check(connection, path)
    if problems:
        found = "; ".join(" ".join(str(problem).split()) for problem in problems)
        raise StoreOpenError(f"run store {path} is damaged ({found})")
    # NORMAL in WAL mode: a commit survives the process being killed; FULL also an OS crash.
    connection.execute(f"PRAGMA synchronous = {'FULL' if durability == 'fsync' else 'NORMAL'}")
    connection.execute("PRAGMA temp_store = MEMORY")
    # The store runs checkpoints itself, on the writer thread (SqliteRunStore._drain): an
    # automatic one would stall whichever commit crosses the threshold, even on the loop.
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute("PRAGMA journal_size_limit = 67108864")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreOpenError(
            f"run store {path} has schema version {version}, newer than {SCHEMA_VERSION}"
        )
    if version:  # an existing file: bring it up to this schema first, keeping its rows
        for target in range(version + 1, SCHEMA_VERSION + 1):
            _migrate(connection, target)
    connection.executescript(_SCHEMA)  # a new file's schema; a no-op on an existing one
    if not version:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _migrate(connection: sqlite3.Connection, target: int) -> None:
    """Takes the file from schema `target - 1` to `target`, in one transaction."""
    statements = [sql.strip() for sql in _MIGRATIONS[target].split(";") if sql.strip()]
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {target}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _quick_check(connection: sqlite3.Connection, path: Path) -> list[str]:
    size = path.stat().st_size if path.exists() else 0
    if size <= FULL_CHECK_MAX_BYTES:
        checks = ["PRAGMA quick_check(3)"]
    else:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        checks = [f"PRAGMA quick_check({table})" for table in _SMALL_TABLES if table in tables]
    problems = []
    for check in checks:
        problems += [str(row[0]) for row in connection.execute(check).fetchall() if row[0] != "ok"]
    return problems


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection; WAL lets it read while the writer commits."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA query_only = ON")
    return connection
