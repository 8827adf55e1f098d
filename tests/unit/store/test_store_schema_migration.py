"""A SQLite file of schema version 1 (before the run queue) opens, is migrated to the
current version in place and keeps every run, event and definition; its runs become the
default tenant's, their request ids still recognised."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs import EVERY_TENANT, request_key
from orchestrator.store import SqliteRunStore
from orchestrator.store.sqlite_schema import SCHEMA_VERSION
from tests.unit.store.run_events import T0, created, finished, started

# The schema as version 1 of the store wrote it (UNFINISHED: state NOT IN (3, 4, 5, 6)).
SCHEMA_V1 = """
CREATE TABLE runs (
    id                  INTEGER PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    workflow_definition TEXT NOT NULL,
    state               INTEGER NOT NULL,
    create_time_us      INTEGER NOT NULL,
    end_time_us         INTEGER,
    labels              TEXT NOT NULL DEFAULT '{}',
    request_id          TEXT,
    fingerprint         TEXT NOT NULL DEFAULT '',
    last_seq            INTEGER NOT NULL
);
CREATE UNIQUE INDEX runs_by_request_id ON runs (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX runs_newest_first ON runs (create_time_us, name);
CREATE INDEX runs_unfinished ON runs (create_time_us) WHERE state NOT IN (3, 4, 5, 6);
CREATE INDEX runs_finished ON runs (end_time_us) WHERE end_time_us IS NOT NULL;
CREATE TABLE events (run_id INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL);
CREATE UNIQUE INDEX events_by_run ON events (run_id, seq);
CREATE TABLE store_probe (body BLOB);
CREATE TABLE definitions (name TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
"""
T0_US = T0 * 1_000_000


def write_v1_file(path: Path) -> dict[str, list[run_pb2.RunEvent]]:
    """A version 1 file with a finished run, an unfinished one and a definition."""
    histories = {
        "workflowRuns/done": [created("done"), started("done"), finished("done", 3)],
        "workflowRuns/open": [created("open", labels={"team": "ml"}), started("open")],
    }
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    rows = [
        (1, "workflowRuns/done", 3, T0_US, T0_US, "{}", "req-1", 3),
        (2, "workflowRuns/open", 2, T0_US, None, '{"team":"ml"}', None, 2),
    ]
    db.executemany(
        "INSERT INTO runs (id, name, workflow_definition, state, create_time_us, end_time_us, "
        "labels, request_id, last_seq) VALUES (?, ?, 'workflowDefinitions/demo', ?, ?, ?, ?, ?, ?)",
        rows,
    )
    for run_id, events in enumerate(histories.values(), start=1):
        db.executemany(
            "INSERT INTO events (run_id, seq, body) VALUES (?, ?, ?)",
            [(run_id, e.seq, e.SerializeToString()) for e in events],
        )
    definition = workflow_pb2.WorkflowDefinition(name="workflowDefinitions/kept")
    db.execute(
        "INSERT INTO definitions (name, body) VALUES (?, ?)",
        (definition.name, definition.SerializeToString()),
    )
    db.commit()
    db.close()
    return histories


def schema_of(path: Path) -> tuple[int, set[str], set[str]]:
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")
        }
    finally:
        db.close()
    return version, columns, indexes


async def test_a_version_1_file_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    histories = write_v1_file(path)

    async with SqliteRunStore(path) as store:
        for name, events in histories.items():
            assert await store.read_events(name, scope=EVERY_TENANT) == events
        done = await store.get_run_record("workflowRuns/done", scope=EVERY_TENANT)
        assert done is not None and done.state == run_pb2.RUN_STATE_SUCCEEDED
        assert done.request_id == "req-1" and done.end_time == T0
        assert await store.unfinished_runs() == ["workflowRuns/open"]
        assert [d.name for d in await store.list_definitions()] == ["workflowDefinitions/kept"]
        await store.append([finished("open", 3)])  # an old run goes on as before
        assert await store.queue_depth() == 0
        queued = created("new")
        queued.run_created.queued = True
        await store.create_run(queued, queued=True, priority=3)
        [claim] = await store.claim_queued(10, {})
        assert done.tenant == DEFAULT_TENANT
        retried = await store.create_run(
            created("retried"), request_id=request_key(DEFAULT_TENANT, "req-1")
        )
        assert retried == ("workflowRuns/done", False), "the old request id still names its run"

    version, columns, indexes = schema_of(path)
    assert version == SCHEMA_VERSION == 4
    assert {"priority", "run_tenant"} <= columns
    assert {
        "runs_queue",
        "runs_active",
        "outbox_pending",
        "outbox_confirmed",
        "runs_tenant_newest_first",
    } <= indexes
    assert claim.run == "workflowRuns/new"


async def test_a_migrated_file_opens_again_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    histories = write_v1_file(path)
    async with SqliteRunStore(path):
        pass

    async with SqliteRunStore(path) as store:
        assert (
            await store.read_events("workflowRuns/open", scope=EVERY_TENANT)
            == histories["workflowRuns/open"]
        )
    assert schema_of(path)[0] == SCHEMA_VERSION


async def test_a_version_2_file_gets_the_outbox_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    histories = write_v1_file(path)
    db = sqlite3.connect(path)
    db.executescript(
        "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0; PRAGMA user_version = 2;"
    )
    db.close()
    async with SqliteRunStore(path, outbox=True) as store:
        assert (
            await store.read_events("workflowRuns/open", scope=EVERY_TENANT)
            == histories["workflowRuns/open"]
        )
        await store.append([finished("open", 3)])
        [entry] = await store.pending(10)
    assert entry.event_id == "run-finished:open"
    assert schema_of(path)[0] == SCHEMA_VERSION
