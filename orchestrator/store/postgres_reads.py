"""The read side of the PostgreSQL run store: queries on a pooled connection.

Every query names the tenant, so access control can later scope them all by it.
"""

from __future__ import annotations

import asyncpg

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.runs import PageCursor, RunFilter
from orchestrator.store.base import RunRecord, record_from_row
from orchestrator.store.postgres_filter import SqlParam, filter_to_sql
from orchestrator.store.postgres_schema import UNFINISHED

_RECORD_COLUMNS = (
    "name, workflow_definition, state, create_time_us, end_time_us, labels::text, request_id, "
    "last_seq, run_tenant"
)


def _of_tenant(run_tenant: str | None, params: list[SqlParam], column: str = "run_tenant") -> str:
    """The condition scoping a query to one tenant's runs (its value appended to `params`),
    or nothing for the engine's own reads of every tenant's (`run_tenant` None)."""
    if run_tenant is None:
        return ""
    params.append(run_tenant)
    return f" AND {column} = ${len(params)}"


async def read_events(
    db: asyncpg.Connection, tenant: str, run: str, after_seq: int, run_tenant: str | None
) -> list[run_pb2.RunEvent]:
    params: list[SqlParam] = [tenant, run, after_seq]
    scoped = _of_tenant(run_tenant, params, "r.run_tenant")
    rows = await db.fetch(
        "SELECT e.body FROM runs r JOIN events e ON e.run_id = r.id "
        f"WHERE r.tenant = $1 AND r.name = $2 AND e.seq > $3{scoped} ORDER BY e.seq",
        *params,
    )
    parse = run_pb2.RunEvent.FromString
    return [parse(row[0]) for row in rows]


async def get_run_record(
    db: asyncpg.Connection, tenant: str, run: str, run_tenant: str | None
) -> RunRecord | None:
    params: list[SqlParam] = [tenant, run]
    scoped = _of_tenant(run_tenant, params)
    row = await db.fetchrow(
        f"SELECT {_RECORD_COLUMNS} FROM runs WHERE tenant = $1 AND name = $2{scoped}", *params
    )
    return None if row is None else record_from_row(row)


async def list_runs(
    db: asyncpg.Connection,
    tenant: str,
    run_filter: RunFilter,
    size: int,
    after: PageCursor | None,
    run_tenant: str | None,
) -> tuple[list[RunRecord], PageCursor | None]:
    """Up to `size` matching runs of `run_tenant` (None: every tenant) strictly after
    `after`, newest first (ties: name descending), and the cursor of the last one if more
    follow."""
    condition, params = filter_to_sql(run_filter, 2)
    query_params: list[SqlParam] = [tenant, *params]
    condition += _of_tenant(run_tenant, query_params)
    if after is not None:
        n = len(query_params)
        condition += f" AND (create_time_us, name) < (${n + 1}::bigint, ${n + 2})"
        query_params += [after.create_time_us, after.name]
    rows = await db.fetch(
        f"SELECT {_RECORD_COLUMNS} FROM runs WHERE tenant = $1 AND {condition} "
        f"ORDER BY create_time_us DESC, name DESC LIMIT ${len(query_params) + 1}",
        *query_params,
        size + 1,
    )
    records = [record_from_row(row) for row in rows[:size]]
    if len(rows) <= size:
        return records, None
    last = rows[size - 1]
    return records, PageCursor(create_time_us=last["create_time_us"], name=last["name"])


async def owned_unfinished_runs(
    db: asyncpg.Connection, tenant: str, replica_id: str
) -> list[tuple[str, int]]:
    """(run, epoch) of the runs `replica_id` owns that are not finished, oldest first."""
    rows = await db.fetch(
        f"SELECT name, epoch FROM runs WHERE tenant = $1 AND owner = $2 AND {UNFINISHED} "
        "AND state <> $3 ORDER BY create_time_us, id",
        tenant,
        replica_id,
        run_pb2.RUN_STATE_QUEUED,
    )
    return [(row[0], row[1]) for row in rows]


async def queue_depth(db: asyncpg.Connection, tenant: str) -> int:
    depth: int = await db.fetchval(
        "SELECT count(*) FROM runs WHERE tenant = $1 AND state = $2",
        tenant,
        run_pb2.RUN_STATE_QUEUED,
    )
    return depth


async def list_definitions(
    db: asyncpg.Connection, tenant: str
) -> list[workflow_pb2.WorkflowDefinition]:
    rows = await db.fetch(
        'SELECT body FROM definitions WHERE tenant = $1 ORDER BY name COLLATE "C"', tenant
    )
    return [workflow_pb2.WorkflowDefinition.FromString(row[0]) for row in rows]
