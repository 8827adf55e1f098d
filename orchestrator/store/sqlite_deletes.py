"""Deletions of the SQLite run store: one run, expired runs in small batches, a definition.

Each function runs inside a write transaction on the writer thread (`BatchWriter.run_job`).
Deleted rows leave their pages on SQLite's freelist, and new rows reuse them, so under a
steady churn of new and expired runs the file stays the same size without a VACUUM.
"""

from __future__ import annotations

import json
import sqlite3

from orchestrator.errors import FailedPrecondition
from orchestrator.store.sqlite_requests import DEFINITION_RESOURCE, RUN_RESOURCE, run_not_found
from orchestrator.store.sqlite_schema import UNFINISHED

# A probe write while the store cannot write: allocates pages like a real batch would.
_PROBE_BYTES = 64 * 1024


def _delete_runs_by_id(db: sqlite3.Connection, ids: list[int]) -> None:
    packed = json.dumps(ids)
    db.execute("DELETE FROM events WHERE run_id IN (SELECT value FROM json_each(?))", (packed,))
    db.execute("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))", (packed,))


def delete_finished_run(db: sqlite3.Connection, run: str) -> None:
    row = db.execute("SELECT id, end_time_us FROM runs WHERE name = ?", (run,)).fetchone()
    if row is None:
        raise run_not_found(run, f"workflow run {run} not found")
    run_id, end_time_us = row
    if end_time_us is None:
        raise FailedPrecondition(
            f"workflow run {run} is not finished; cancel it first",
            reason="RUN_NOT_FINISHED",
            resource_type=RUN_RESOURCE,
            resource_name=run,
        )
    _delete_runs_by_id(db, [run_id])


def delete_expired_runs(db: sqlite3.Connection, ended_before_us: int, limit: int) -> list[str]:
    """Deletes up to `limit` runs that finished before `ended_before_us`, oldest first."""
    found: list[list[object]] = json.loads(
        db.execute(
            "SELECT json_group_array(json_array(id, name)) FROM ("
            "SELECT id, name FROM runs WHERE end_time_us IS NOT NULL AND end_time_us < ? "
            "ORDER BY end_time_us LIMIT ?)",
            (ended_before_us, limit),
        ).fetchone()[0]
    )
    if found:
        _delete_runs_by_id(db, [int(str(run_id)) for run_id, _ in found])
    return [str(name) for _, name in found]


def delete_definition(db: sqlite3.Connection, name: str) -> bool:
    in_use = db.execute(
        f"SELECT name FROM runs WHERE workflow_definition = ? AND {UNFINISHED} LIMIT 1", (name,)
    ).fetchone()
    if in_use is not None:
        raise FailedPrecondition(
            f"workflow definition {name} has unfinished runs (e.g. {in_use[0]}); "
            "wait for them or cancel them first",
            reason="DEFINITION_IN_USE",
            metadata={"run": in_use[0]},
            resource_type=DEFINITION_RESOURCE,
            resource_name=name,
        )
    return db.execute("DELETE FROM definitions WHERE name = ?", (name,)).rowcount > 0


def probe_write(db: sqlite3.Connection) -> None:
    """Allocates and frees a few pages: fails as a batch would while the store is full."""
    db.execute("INSERT INTO store_probe (body) VALUES (zeroblob(?))", (_PROBE_BYTES,))
    db.execute("DELETE FROM store_probe")
