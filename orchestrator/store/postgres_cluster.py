"""The SQL of several replicas sharing one PostgreSQL store: heartbeats, claims, cancels.

Functions on an asyncpg connection; the PostgreSQL store calls them (one connection of
its pool each). Every time is the database's clock (`now()`), never a replica's, so
replicas whose clocks disagree still agree on who is alive. Runs are final in states
3-6; 7 is QUEUED (see the migrations in `postgres_migrations/`).

- `heartbeat`: this replica's row, `heartbeat_at = now()` (and forgets replicas silent
  for an hour that own nothing); `retire` deletes it.
- `claim_orphans`: unfinished runs of dead replicas (heartbeat older than the lease, or
  no row: retired), or of nobody (written before schema 2), not QUEUED: `FOR UPDATE
  SKIP LOCKED`, so replicas claiming at once split them; owner = us, epoch + 1 (which
  fences the old owner's writes). While nobody is dead it costs one probe per owner.
- `claim_queued`: QUEUED runs, highest priority first then oldest, under one advisory
  lock per schema and tenant, so claims are serialized and per-definition limits hold
  across replicas; they become PENDING, owned by us, epoch + 1.
- `request_cancel`: records the reason on the run and NOTIFYs `x <run> <reason>` in the same
  transaction (delivered at commit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.store.base import Claim, ReplicaInfo

__all__ = [
    "claim_orphans",
    "claim_queued",
    "claim_queued_run",
    "heartbeat",
    "last_seqs",
    "list_replicas",
    "pending_cancels",
    "request_cancel",
    "retire",
]

# Connection: an asyncpg Connection (typed loosely so this module needs no driver stubs).
Connection = Any

_UNFINISHED = "state NOT IN (3, 4, 5, 6)"
_QUEUED = 7
_PENDING = 1
_NOTIFIED_REASON_CHARS = 1000  # of a Cancel's reason, in its NOTIFY (at most 8000 bytes)

# A replica that stopped: its runs are orphans at once, not after a lease.
_RETIRE = "DELETE FROM replicas WHERE tenant = $1 AND id = $2"

# With it, rows of replicas silent for an hour that own no unfinished run are forgotten
# (each restart under a default replica id leaves one).
_FORGET_AFTER = "interval '1 hour'"
_HEARTBEAT = f"""
WITH beat AS (
    INSERT INTO replicas (tenant, id, address) VALUES ($1, $2, $3)
    ON CONFLICT (tenant, id) DO UPDATE SET heartbeat_at = now(), address = EXCLUDED.address
)
DELETE FROM replicas p
WHERE p.tenant = $1 AND p.id <> $2 AND p.heartbeat_at < now() - {_FORGET_AFTER}
  AND NOT EXISTS (SELECT 1 FROM runs r
                  WHERE r.tenant = p.tenant AND r.owner = p.id AND r.{_UNFINISHED})
"""

# Whose runs are orphans: the owners of unfinished runs that are not live replicas (dead,
# retired, or that never heartbeat), found by a skip scan of the runs_owned index (one
# probe per distinct owner, not one row per run), and whether any run has no owner.
# Cheap enough for every tick of every replica while nobody is dead.
_DEAD_OWNERS = f"""
WITH RECURSIVE owners AS (
    (SELECT owner FROM runs
     WHERE tenant = $1 AND {_UNFINISHED} AND owner IS NOT NULL ORDER BY owner LIMIT 1)
    UNION ALL
    SELECT (SELECT r.owner FROM runs r
            WHERE r.tenant = $1 AND r.{_UNFINISHED} AND r.owner > o.owner
            ORDER BY r.owner LIMIT 1)
    FROM owners o WHERE o.owner IS NOT NULL
)
SELECT
    ARRAY(SELECT owner FROM owners
          WHERE owner IS NOT NULL AND owner <> $2 AND owner NOT IN (
              SELECT p.id FROM replicas p
              WHERE p.tenant = $1 AND p.heartbeat_at >= now() - make_interval(secs => $3))
    ) AS dead,
    EXISTS (SELECT 1 FROM runs
            WHERE tenant = $1 AND {_UNFINISHED} AND state <> {_QUEUED} AND owner IS NULL
    ) AS unowned
"""

# Owner in a list fixed before the statement, not a join: a row a concurrent claim just
# took is re-checked (READ COMMITTED) on its new owner, a live replica not in the list.
_CLAIM_ORPHANS = f"""
UPDATE runs SET owner = $2, epoch = epoch + 1
WHERE id IN (
    SELECT r.id FROM runs r
    WHERE r.tenant = $1 AND r.{_UNFINISHED} AND r.state <> {_QUEUED}
      AND (r.owner = ANY($3::text[]) OR ($4 AND r.owner IS NULL))
    ORDER BY r.id
    LIMIT $5
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
# the first hint), in the transaction's commit: `x <run> <reason>` (the reason cut to fit).
_REQUEST_CANCEL = f"""
WITH asked AS (
    UPDATE runs SET cancel_reason = COALESCE(cancel_reason, $3)
    WHERE tenant = $1 AND name = $2 AND {_UNFINISHED}
    RETURNING name, cancel_reason
)
SELECT pg_notify($4, 'x ' || name || ' ' || left(cancel_reason, {_NOTIFIED_REASON_CHARS}))
FROM asked
"""

_LAST_SEQS = "SELECT name, last_seq FROM runs WHERE tenant = $1 AND name = ANY($2::text[])"

_PENDING_CANCELS = f"""
SELECT name, cancel_reason FROM runs
WHERE tenant = $1 AND owner = $2 AND {_UNFINISHED} AND cancel_reason IS NOT NULL
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


async def retire(conn: Connection, tenant: str, replica_id: str) -> None:
    """This replica stopped (its runs stopped, their events committed): the others may
    take its unfinished runs over now rather than after its lease."""
    await conn.execute(_RETIRE, tenant, replica_id)


async def claim_orphans(
    conn: Connection, tenant: str, replica_id: str, lease_s: float, limit: int
) -> list[Claim]:
    """Takes up to `limit` runs whose owner is dead (or that have none), oldest first."""
    if limit <= 0:
        return []
    found = await conn.fetchrow(_DEAD_OWNERS, tenant, replica_id, float(lease_s))
    dead, unowned = list(found["dead"]), bool(found["unowned"])
    if not dead and not unowned:
        return []
    rows = await conn.fetch(_CLAIM_ORPHANS, tenant, replica_id, dead, unowned, limit)
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
    """Records a Cancel on an unfinished run and NOTIFYs `x <run> <reason>` on `channel`
    at commit (the reason recorded first, when several Cancels were asked).

    False when there is no such unfinished run (nothing recorded, nobody told).
    """
    rows = await conn.fetch(_REQUEST_CANCEL, tenant, run, reason or "cancelled by request", channel)
    return bool(rows)


async def last_seqs(conn: Connection, tenant: str, runs: Sequence[str]) -> dict[str, int]:
    """The last committed seq of each of `runs` that exists: one query for many runs (the
    remote feed's poll)."""
    if not runs:
        return {}
    rows = await conn.fetch(_LAST_SEQS, tenant, list(runs))
    return {row["name"]: int(row["last_seq"]) for row in rows}


async def pending_cancels(conn: Connection, tenant: str, replica_id: str) -> list[tuple[str, str]]:
    """(run, reason) of the unfinished runs `replica_id` owns that a Cancel was asked for:
    what its owner must carry out even if it missed the NOTIFY."""
    rows = await conn.fetch(_PENDING_CANCELS, tenant, replica_id)
    return [(row["name"], row["cancel_reason"]) for row in rows]


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
