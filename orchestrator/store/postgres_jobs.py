"""Jobs of the PostgreSQL run store: definitions, deletes, the retention purge, the probe.

Each runs on the writer connection inside its own transaction (`PostgresRunStore._job`),
in queue order with the writes. The purge takes its victims `FOR UPDATE SKIP LOCKED`, so
the replicas purging the same tenant at once never wait for, or delete twice, each
other's runs.
"""

from __future__ import annotations

import asyncpg

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import AlreadyExists, FailedPrecondition
from orchestrator.store.postgres_notify import deleted_payloads
from orchestrator.store.postgres_schema import UNFINISHED
from orchestrator.store.sqlite_requests import DEFINITION_RESOURCE, RUN_RESOURCE, run_not_found


async def store_definition(
    db: asyncpg.Connection, tenant: str, definition: workflow_pb2.WorkflowDefinition
) -> bool:
    """True if newly stored, False if stored identically (by any replica)."""
    body = definition.SerializeToString(deterministic=True)
    inserted = await db.fetchval(
        "INSERT INTO definitions (tenant, name, body) VALUES ($1, $2, $3) "
        "ON CONFLICT (tenant, name) DO NOTHING RETURNING 1",
        tenant,
        definition.name,
        body,
    )
    if inserted is not None:
        return True
    stored_body = await db.fetchval(
        "SELECT body FROM definitions WHERE tenant = $1 AND name = $2", tenant, definition.name
    )
    stored = workflow_pb2.WorkflowDefinition.FromString(stored_body or b"")
    if stored_body is not None and stored.SerializeToString(deterministic=True) == body:
        return False
    raise AlreadyExists(
        f"workflow definition {definition.name} already exists with different content",
        reason="DEFINITION_EXISTS",
        resource_type=DEFINITION_RESOURCE,
        resource_name=definition.name,
    )


async def delete_definition(db: asyncpg.Connection, tenant: str, name: str) -> bool:
    in_use = await db.fetchval(
        f"SELECT name FROM runs WHERE tenant = $1 AND workflow_definition = $2 AND {UNFINISHED} "
        "LIMIT 1",
        tenant,
        name,
    )
    if in_use is not None:
        raise FailedPrecondition(
            f"workflow definition {name} has unfinished runs (e.g. {in_use}); "
            "wait for them or cancel them first",
            reason="DEFINITION_IN_USE",
            metadata={"run": in_use},
            resource_type=DEFINITION_RESOURCE,
            resource_name=name,
        )
    deleted = await db.fetchval(
        "DELETE FROM definitions WHERE tenant = $1 AND name = $2 RETURNING 1", tenant, name
    )
    return deleted is not None


async def tell_deleted(db: asyncpg.Connection, channel: str, runs: list[str]) -> None:
    """NOTIFYs (at commit) the other replicas, which may hold these histories in memory."""
    payloads = deleted_payloads(runs)
    if payloads:
        await db.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", channel, payloads)


async def delete_finished_run(db: asyncpg.Connection, tenant: str, run: str, channel: str) -> None:
    row = await db.fetchrow(
        "SELECT id, end_time_us FROM runs WHERE tenant = $1 AND name = $2 FOR UPDATE", tenant, run
    )
    if row is None:
        raise run_not_found(run, f"workflow run {run} not found")
    if row["end_time_us"] is None:
        raise FailedPrecondition(
            f"workflow run {run} is not finished; cancel it first",
            reason="RUN_NOT_FINISHED",
            resource_type=RUN_RESOURCE,
            resource_name=run,
        )
    await db.execute("DELETE FROM events WHERE run_id = $1", row["id"])
    await db.execute("DELETE FROM runs WHERE id = $1", row["id"])
    await tell_deleted(db, channel, [run])


async def delete_expired_runs(
    db: asyncpg.Connection, tenant: str, ended_before_us: int, limit: int, channel: str
) -> list[str]:
    """Deletes up to `limit` runs that finished before `ended_before_us`, oldest first."""
    rows = await db.fetch(
        "WITH gone AS (DELETE FROM runs WHERE id IN ("
        "  SELECT id FROM runs WHERE tenant = $1 AND end_time_us IS NOT NULL "
        "  AND end_time_us < $2 ORDER BY end_time_us LIMIT $3 FOR UPDATE SKIP LOCKED"
        ") RETURNING id, name), "
        "events_gone AS (DELETE FROM events WHERE run_id IN (SELECT id FROM gone)) "
        "SELECT name FROM gone",
        tenant,
        ended_before_us,
        limit,
    )
    deleted = [row[0] for row in rows]
    await tell_deleted(db, channel, deleted)
    return deleted


async def probe_write(db: asyncpg.Connection, tenant: str) -> None:
    """Writes a commit record (an xid is assigned): fails as a batch would while the server
    cannot write (disk full, read-only standby)."""
    await db.execute("SELECT txid_current()")
