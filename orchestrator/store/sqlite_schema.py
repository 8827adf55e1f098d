"""SQLite tables, indexes and connection settings of the run store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from orchestrator.runs.states import FINAL_RUN_STATES

Durability = Literal["normal", "fsync"]

SCHEMA_VERSION = 1

#: SQL condition for "the run is not finished"; the partial index uses the same text.
UNFINISHED = f"state NOT IN ({', '.join(str(state) for state in sorted(FINAL_RUN_STATES))})"

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
    last_seq            INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_by_request_id
    ON runs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_newest_first ON runs (create_time_us, name);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (create_time_us) WHERE {UNFINISHED};

CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL,  -- runs.id
    seq    INTEGER NOT NULL,
    body   BLOB NOT NULL      -- a serialized aura.orchestrator.v1.RunEvent
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);

CREATE TABLE IF NOT EXISTS definitions (
    name TEXT PRIMARY KEY,
    body BLOB NOT NULL   -- a serialized aura.orchestrator.v1.WorkflowDefinition
) WITHOUT ROWID;
"""

_BUSY_TIMEOUT_MS = 10_000


def connect_writer(path: Path, durability: Durability) -> sqlite3.Connection:
    """The one connection that writes; creates the file, directory and schema if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        connection.close()
        raise RuntimeError(f"cannot enable WAL journal mode on {path} (got {mode!r})")
    # NORMAL in WAL mode: a commit survives the process being killed; FULL also an OS crash.
    connection.execute(f"PRAGMA synchronous = {'FULL' if durability == 'fsync' else 'NORMAL'}")
    connection.execute("PRAGMA temp_store = MEMORY")
    # The store runs checkpoints itself, on the writer thread (SqliteRunStore._drain): an
    # automatic one would stall whichever commit crosses the threshold, even on the loop.
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute("PRAGMA journal_size_limit = 67108864")
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        connection.close()
        raise RuntimeError(f"{path} has schema version {version}, newer than {SCHEMA_VERSION}")
    connection.executescript(_SCHEMA)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return connection


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection; WAL lets it read while the writer commits."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA query_only = ON")
    return connection
