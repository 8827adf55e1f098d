"""The PostgreSQL store's outbox (orchestrator.bus.outbox.Outbox): migration 0003.

Entries are written in the batch's transaction (`write_for_commit`, called by
`postgres_writes.BatchWriter` when the store has `outbox=True`), and by `write_events`
for what is no run's event (service.state).

Several replicas share the table, each with a relay: `pending` claims what it returns
(`FOR UPDATE SKIP LOCKED`, then `claimed_by` = this replica for `CLAIM_S`), so two
relays never publish the same entry at the same time; a relay that died mid-batch
leaves its claim to run out and another one publishes the entries (at least once: the
bus publish is idempotent on event_id, which absorbs the repeat).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.outbox_entries import creation_of, runs_needing_creation, topic_events
from orchestrator.store.outbox_topics import OutboxEntry, TopicEvent

#: How long a relay's claim on the entries it read holds (it publishes them meanwhile).
CLAIM_S = 10.0


def now_us() -> int:
    return int(time.time() * 1_000_000)


async def write_events(db: asyncpg.Connection, tenant: str, events: Sequence[TopicEvent]) -> int:
    """Inside a transaction; an event_id already there is kept as it is."""
    if not events:
        return 0
    await db.execute(
        "INSERT INTO outbox (tenant, topic, key, event_id, payload, created_us) "
        "SELECT $1, t, k, e, p::jsonb, $6 FROM unnest($2::text[], $3::text[], $4::text[], "
        "$5::text[]) AS u(t, k, e, p) ON CONFLICT (tenant, event_id) DO NOTHING",
        tenant,
        [e.topic for e in events],
        [e.key for e in events],
        [e.event_id for e in events],
        [json.dumps(e.payload, separators=(",", ":")) for e in events],
        now_us(),
    )
    return len(events)


async def write_for_commit(
    db: asyncpg.Connection, tenant: str, committed: Sequence[run_pb2.RunEvent]
) -> int:
    needed = runs_needing_creation(committed)
    creations = {}
    if needed:
        rows = await db.fetch(
            "SELECT r.name, e.body FROM runs r JOIN events e ON e.run_id = r.id AND e.seq = 1 "
            "WHERE r.tenant = $1 AND r.name = ANY($2::text[])",
            tenant,
            needed,
        )
        creations = {str(row["name"]): creation_of(bytes(row["body"])) for row in rows}
    return await write_events(db, tenant, topic_events(committed, creations))


async def claim_pending(
    db: asyncpg.Connection, tenant: str, replica: str, limit: int
) -> list[OutboxEntry]:
    rows = await db.fetch(
        "UPDATE outbox SET claimed_by = $2, claimed_until = now() + make_interval(secs => $4) "
        "WHERE id IN (SELECT id FROM outbox WHERE tenant = $1 AND confirmed_us IS NULL "
        "AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2) "
        "ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) "
        "RETURNING id, topic, key, event_id, payload, created_us",
        tenant,
        replica,
        max(0, limit),
        CLAIM_S,
    )
    entries = [
        OutboxEntry(
            int(row["id"]),
            str(row["topic"]),
            str(row["key"]),
            str(row["event_id"]),
            json.loads(row["payload"]),
            int(row["created_us"]),
        )
        for row in rows
    ]
    return sorted(entries, key=lambda entry: entry.id)


async def mark_confirmed(db: asyncpg.Connection, tenant: str, ids: Sequence[int]) -> None:
    await db.execute(
        "UPDATE outbox SET confirmed_us = $3, claimed_by = NULL, claimed_until = NULL "
        "WHERE tenant = $1 AND id = ANY($2::bigint[]) AND confirmed_us IS NULL",
        tenant,
        [int(i) for i in ids],
        now_us(),
    )


async def reopen_confirmed(db: asyncpg.Connection, tenant: str, created_after_us: int) -> int:
    status = await db.execute(
        "UPDATE outbox SET confirmed_us = NULL WHERE tenant = $1 AND confirmed_us IS NOT NULL "
        "AND created_us >= $2",
        tenant,
        created_after_us,
    )
    return int(str(status).rsplit(" ", 1)[-1])


async def delete_confirmed(
    db: asyncpg.Connection, tenant: str, created_before_us: int, limit: int = 1000
) -> int:
    status = await db.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE tenant = $1 "
        "AND confirmed_us IS NOT NULL AND created_us < $2 ORDER BY created_us LIMIT $3)",
        tenant,
        created_before_us,
        limit,
    )
    return int(str(status).rsplit(" ", 1)[-1])
