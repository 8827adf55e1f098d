"""The read side of the SQLite run store: queries run on the reader threads.

Queries that return many rows aggregate them into ONE JSON value in SQL (blobs as hex).
Fetching row by row steps the statement once per row, and Python's sqlite3 releases and
re-takes the GIL around each step; while the event loop thread is busy every re-take
can wait out the switch interval (5 ms). Measured on an 18-event read next to a busy
thread: 139 ms row by row, 17 ms aggregated (0.02 vs 0.09 ms when idle).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.runs import PageCursor, RunFilter
from orchestrator.store.base import RunRecord, record_from_row
from orchestrator.store.sqlite_filter import SqlParam, filter_to_sql
from orchestrator.store.sqlite_schema import ACTIVE

_RECORD_COLUMNS = (
    "name, workflow_definition, state, create_time_us, end_time_us, labels, request_id, "
    "last_seq, run_tenant"
)
_RECORD_AS_JSON = (
    "json_array(name, workflow_definition, state, create_time_us, end_time_us, json(labels), "
    "request_id, last_seq, run_tenant)"
)
#: Appended to a query's condition on runs: one tenant's (its name the last parameter), or
#: every tenant's for the engine's own reads (tenant None: nothing appended).
_OF_TENANT = " AND run_tenant = ?"


def _scoped(tenant: str | None) -> tuple[str, list[SqlParam]]:
    return ("", []) if tenant is None else (_OF_TENANT, [tenant])


def _fetch_json(db: sqlite3.Connection, sql: str, params: list[SqlParam]) -> Any:
    return json.loads(db.execute(sql, params).fetchone()[0])


def read_events(
    db: sqlite3.Connection, run: str, after_seq: int, tenant: str | None
) -> list[run_pb2.RunEvent]:
    of_tenant, params = _scoped(tenant)
    found = _fetch_json(
        db,
        "SELECT json_group_array(json_array(seq, hex(body))) FROM events "
        f"WHERE run_id = (SELECT id FROM runs WHERE name = ?{of_tenant}) AND seq > ?",
        [run, *params, after_seq],
    )
    found.sort()
    return [run_pb2.RunEvent.FromString(bytes.fromhex(body)) for _, body in found]


def get_run_record(db: sqlite3.Connection, run: str, tenant: str | None) -> RunRecord | None:
    of_tenant, params = _scoped(tenant)
    row = db.execute(
        f"SELECT {_RECORD_COLUMNS} FROM runs WHERE name = ?{of_tenant}", (run, *params)
    ).fetchone()
    return None if row is None else record_from_row(row)


def list_runs(
    db: sqlite3.Connection,
    run_filter: RunFilter,
    size: int,
    after: PageCursor | None,
    tenant: str | None,
) -> tuple[list[RunRecord], PageCursor | None]:
    """Up to `size` matching runs of `tenant` (None: every tenant) strictly after `after`,
    newest first (ties: name descending), and the cursor of the last one if more follow."""
    condition, params = filter_to_sql(run_filter)
    of_tenant, tenant_params = _scoped(tenant)
    condition += of_tenant
    query_params: list[SqlParam] = [*params, *tenant_params]
    if after is not None:
        condition += " AND (create_time_us, name) < (?, ?)"
        query_params += [after.create_time_us, after.name]
    rows: list[list[Any]] = _fetch_json(
        db,
        f"SELECT json_group_array({_RECORD_AS_JSON}) FROM ("
        f"SELECT * FROM runs WHERE {condition} "
        "ORDER BY create_time_us DESC, name DESC LIMIT ?)",
        [*query_params, size + 1],
    )
    rows.sort(key=lambda row: (row[3], row[0]), reverse=True)
    if len(rows) <= size:
        return [record_from_row(row) for row in rows], None
    rows = rows[:size]
    return [record_from_row(row) for row in rows], PageCursor(
        create_time_us=rows[-1][3], name=rows[-1][0]
    )


def unfinished_runs(db: sqlite3.Connection) -> list[str]:
    found: list[list[Any]] = _fetch_json(
        db,
        f"SELECT json_group_array(json_array(create_time_us, name)) FROM runs WHERE {ACTIVE}",
        [],
    )
    found.sort()
    return [name for _, name in found]


def list_definitions(db: sqlite3.Connection) -> list[workflow_pb2.WorkflowDefinition]:
    rows = db.execute("SELECT body FROM definitions ORDER BY name").fetchall()
    return [workflow_pb2.WorkflowDefinition.FromString(body) for (body,) in rows]
