"""A batch whose COMMIT was lost with its connection: did it land?

The server may have committed it before the connection died, or not. A batch is one
transaction, so it landed whole or not at all; the database tells which, by each run's
`last_seq` and first event. What landed is acknowledged (appends) or undone
(creations: their callers were already told UNAVAILABLE, so nobody knows these runs;
left in place they would sit unfinished, owned by a replica that never runs them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from orchestrator.store.postgres_requests import AppendRequest, BatchResult, CreateRequest, Queued


@dataclass
class Landed(BatchResult):
    """The appends that landed (their events in `committed`); `undone`: creations deleted."""

    acknowledged: list[Queued] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)


async def resolve_in_doubt(db: asyncpg.Connection, tenant: str, doubtful: list[Queued]) -> Landed:
    runs = set()
    for item in doubtful:
        if isinstance(item.request, CreateRequest):
            runs.add(item.request.event.run)
        elif isinstance(item.request, AppendRequest):
            runs.update(event.run for event in item.request.events)
    rows = await db.fetch(
        "SELECT r.id, r.name, r.last_seq, e.body FROM runs r "
        "LEFT JOIN events e ON e.run_id = r.id AND e.seq = 1 "
        "WHERE r.tenant = $1 AND r.name = ANY($2::text[])",
        tenant,
        sorted(runs),
    )
    found = {row["name"]: row for row in rows}
    landed = Landed([])
    undo: list[int] = []
    for item in doubtful:
        request = item.request
        if isinstance(request, CreateRequest):
            row = found.get(request.event.run)
            if row is not None and row["body"] == request.event.SerializeToString():
                undo.append(row["id"])
                landed.undone.append(request.event.run)
        elif isinstance(request, AppendRequest) and all(
            event.run in found and found[event.run]["last_seq"] >= event.seq
            for event in request.events
        ):
            landed.acknowledged.append(item)
            landed.committed.extend(request.events)
    landed.bodies = [event.SerializeToString() for event in landed.committed]
    if undo:
        async with db.transaction():
            await db.execute("DELETE FROM events WHERE run_id = ANY($1::bigint[])", undo)
            await db.execute("DELETE FROM runs WHERE id = ANY($1::bigint[])", undo)
    return landed
