"""The SQL of several replicas sharing one PostgreSQL store: heartbeats, claims, cancels.

Functions on an asyncpg connection; the PostgreSQL store calls them (one connection of
its pool each). Every time is the database's clock (`now()`), never a replica's, so
replicas whose clocks disagree still agree on who is alive. Runs are final in states
3-6; 7 is QUEUED (see the migrations in `postgres_migrations/`).

- `heartbeat`: this replica's row, `heartbeat_at = now()`.
- `claim_orphans`: unfinished runs of dead replicas (heartbeat older than the lease), or
  of nobody (written before schema 2), not QUEUED: `FOR UPDATE SKIP LOCKED`, so
  replicas claiming at once split them; owner = us, epoch + 1 (which fences the old
  owner's writes).
- `claim_queued`: QUEUED runs, highest priority first then oldest, under one advisory
  lock per schema and tenant, so claims are serialized and per-definition limits hold
  across replicas; they become PENDING, owned by us, epoch + 1.
- `request_cancel`: records the reason on the run and NOTIFYs `x <run>` in the same
  transaction (delivered at commit).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.store.base import Claim, ReplicaInfo

__all__ = [
    "claim_orphans",
    "claim_queued",
    "claim_queued_run",
    "heartbeat",
    "list_replicas",
    "request_cancel",
]

# Connection: an asyncpg Connection (typed loosely so this module needs no driver stubs).
Connection = Any

_UNFINISHED = "state NOT IN (3, 4, 5, 6)"
_QUEUED = 7
_PENDING = 1

_HEARTBEAT = """
INSERT INTO replicas (tenant, id, address) VALUES ($1, $2, $3)
ON CONFLICT (tenant, id) DO UPDATE SET heartbeat_at = now(), address = EXCLUDED.address
"""

# Our own runs are never orphans to us: we just heartbeat, and a run we hold but do not
# execute is resumed by `unfinished_runs`, not claimed. Liveness is a NOT IN of live
# replicas, not a join: a row a concurrent claim just took is re-checked (READ COMMITTED)
# against its new owner, where a joined replicas row would be the old owner's.
_CLAIM_ORPHANS = f"""
UPDATE runs SET owner = $2, epoch = epoch + 1
WHERE id IN (
    SELECT r.id FROM runs r
    WHERE r.tenant = $1 AND r.{_UNFINISHED} AND r.state <> {_QUEUED}
      AND r.owner IS DISTINCT FROM $2
      AND (r.owner IS NULL OR r.owner NOT IN (
          SELECT p.id FROM replicas p
          WHERE p.tenant = $1 AND p.heartbeat_at >= now() - make_interval(secs => $3)))
    ORDER BY r.id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING id, name, epoch, cancel_reason
"""

_BUSY_BY_DEFINITION = f"""
SELECT workflow_definition, count(*) FROM runs
WHERE tenant = $1 AND {_UNFINISHED} AND state <> {_QUEUED}
  AND workflow_definition = ANY($2::text[])
GROUP BY workflow_definition
"""

# The next queued runs after a (priority, id) cursor, leaving out definitions at their limit.
_QUEUED_PAGE = f"""
SELECT id, priority, workflow_definition FROM runs
WHERE tenant = $1 AND state = {_QUEUED}
  AND (priority < $2 OR (priority = $2 AND id > $3::bigint))
  AND workflow_definition <> ALL($4::text[])
ORDER BY priority DESC, id
LIMIT $5
"""

_TAKE_QUEUED = f"""
UPDATE runs SET state = {_PENDING}, owner = $2, epoch = epoch + 1
WHERE tenant = $1 AND id = ANY($3::bigint[]) AND state = {_QUEUED}
RETURNING id, name, epoch, cancel_reason
"""

_TAKE_QUEUED_RUN = f"""
UPDATE runs SET state = {_PENDING}, owner = $2, epoch = epoch + 1
WHERE tenant = $1 AND name = $3 AND state = {_QUEUED}
RETURNING name, epoch, cancel_reason
"""

# The reason of the first Cancel is kept; the owner is told each time (it may have missed
# the first hint), in the transaction's commit.
_REQUEST_CANCEL = f"""
WITH asked AS (
    UPDATE runs SET cancel_reason = COALESCE(cancel_reason, $3)
    WHERE tenant = $1 AND name = $2 AND {_UNFINISHED}
    RETURNING name
)
SELECT pg_notify($4, 'x ' || name) FROM asked
"""

_LIST_REPLICAS = f"""
SELECT p.id, p.address,
       extract(epoch FROM now() - p.heartbeat_at)::float8 AS age_s,
       count(r.id) AS owned
FROM replicas p
LEFT JOIN runs r ON r.tenant = p.tenant AND r.owner = p.id AND r.{_UNFINISHED}
     AND r.state <> {_QUEUED}
WHERE p.tenant = $1
GROUP BY p.id, p.address, p.heartbeat_at
ORDER BY p.id
"""


async def heartbeat(conn: Connection, tenant: str, replica_id: str, address: str) -> None:
    """Renews (or first writes) this replica's row with the database's clock."""
    await conn.execute(_HEARTBEAT, tenant, replica_id, address)


async def claim_orphans(
    conn: Connection, tenant: str, replica_id: str, lease_s: float, limit: int
) -> list[Claim]:
    """Takes up to `limit` runs whose owner is dead (or that have none), oldest first."""
    if limit <= 0:
        return []
    rows = await conn.fetch(_CLAIM_ORPHANS, tenant, replica_id, float(lease_s), limit)
    return [_claim(row) for row in sorted(rows, key=lambda row: row["id"])]


async def claim_queued(
    conn: Connection,
    tenant: str,
    replica_id: str,
    limit: int,
    concurrency: Mapping[str, int],
    lock_key: int,
) -> list[Claim]:
    """Takes up to `limit` QUEUED runs (priority DESC, then FIFO), keeping every
    definition of `concurrency` within its limit of unfinished, non-queued runs."""
    if limit <= 0:
        return []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
        room: dict[str, int] = dict(concurrency)
        if room:
            for definition, busy in await conn.fetch(_BUSY_BY_DEFINITION, tenant, list(room)):
                room[definition] -= busy
        full = [definition for definition, left in room.items() if left <= 0]
        chosen: list[int] = []
        cursor = (2**31 - 1, 0)  # above any priority: the head of the queue
        while len(chosen) < limit:
            page = await conn.fetch(
                _QUEUED_PAGE, tenant, cursor[0], cursor[1], full, limit - len(chosen)
            )
            if not page:
                break
            for run_id, priority, definition in page:
                cursor = (priority, run_id)
                if definition in full:
                    continue  # it reached its limit earlier in this page
                chosen.append(run_id)
                if definition in room:
                    room[definition] -= 1
                    if room[definition] <= 0:
                        full.append(definition)
                if len(chosen) == limit:
                    break
        if not chosen:
            return []
        rows = await conn.fetch(_TAKE_QUEUED, tenant, replica_id, chosen)
    order = {run_id: index for index, run_id in enumerate(chosen)}
    return [_claim(row) for row in sorted(rows, key=lambda row: order[row["id"]])]


async def claim_queued_run(
    conn: Connection, tenant: str, replica_id: str, run: str
) -> Claim | None:
    """Takes one QUEUED run by name (to cancel it); None when it is not queued any more."""
    row = await conn.fetchrow(_TAKE_QUEUED_RUN, tenant, replica_id, run)
    return None if row is None else _claim(row)


async def request_cancel(
    conn: Connection, tenant: str, run: str, reason: str, channel: str
) -> bool:
    """Records a Cancel on an unfinished run and NOTIFYs `x <run>` on `channel` at commit.

    False when there is no such unfinished run (nothing recorded, nobody told).
    """
    rows = await conn.fetch(_REQUEST_CANCEL, tenant, run, reason or "cancelled by request", channel)
    return bool(rows)


async def list_replicas(conn: Connection, tenant: str, lease_s: float) -> list[ReplicaInfo]:
    """Every replica that ever heartbeat for `tenant`, with the runs it owns now."""
    return [
        ReplicaInfo(
            id=row["id"],
            address=row["address"],
            heartbeat_age_s=max(0.0, float(row["age_s"])),
            alive=float(row["age_s"]) < lease_s,
            owned_runs=int(row["owned"]),
        )
        for row in await conn.fetch(_LIST_REPLICAS, tenant)
    ]


def _claim(row: Any) -> Claim:
    return Claim(run=row["name"], epoch=int(row["epoch"]), cancel_reason=row["cancel_reason"] or "")
