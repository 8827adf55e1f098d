"""The SQLite store's outbox (orchestrator.bus.outbox.Outbox): schema 3's `outbox` table.

Entries are written by `BatchWriter.write` in the batch's transaction (only when the
store was made with `outbox=True`), and by `record` jobs (service.state, not run
events). Confirmations and reopening are jobs in the write queue; `pending` is a read.
Confirmed entries are deleted once older than the store's outbox retention; pending
ones never are.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.outbox_entries import creation_of, runs_needing_creation, topic_events
from orchestrator.store.outbox_topics import OutboxEntry, TopicEvent

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id           INTEGER PRIMARY KEY,   -- increasing with commit order
    topic        TEXT NOT NULL,
    key          TEXT NOT NULL,
    event_id     TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,         -- JSON object
    created_us   INTEGER NOT NULL,
    confirmed_us INTEGER                -- NULL: not yet published
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE confirmed_us IS NULL;
CREATE INDEX IF NOT EXISTS outbox_confirmed ON outbox (created_us) WHERE confirmed_us IS NOT NULL;
"""


def now_us() -> int:
    return int(time.time() * 1_000_000)


def write_events(db: sqlite3.Connection, events: Sequence[TopicEvent]) -> int:
    """Inside a write transaction; an event_id already there is kept as it is."""
    created = now_us()
    rows = [
        (e.topic, e.key, e.event_id, json.dumps(e.payload, separators=(",", ":")), created)
        for e in events
    ]
    if rows:
        db.executemany(
            "INSERT OR IGNORE INTO outbox (topic, key, event_id, payload, created_us) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def write_for_commit(
    db: sqlite3.Connection,
    committed: Sequence[run_pb2.RunEvent],
    known: Mapping[str, run_pb2.RunCreated],
) -> int:
    """The entries of a batch's committed events, in its transaction; `known`: creations
    the writer remembers (the others are read from the runs' first events)."""
    needed = [run for run in runs_needing_creation(committed) if run not in known]
    creations = dict(known)
    if needed:
        found = db.execute(
            "SELECT r.name, e.body FROM runs r JOIN events e ON e.run_id = r.id AND e.seq = 1 "
            "WHERE r.name IN (SELECT value FROM json_each(?))",
            (json.dumps(needed),),
        ).fetchall()
        creations.update((str(name), creation_of(bytes(body))) for name, body in found)
    return write_events(db, topic_events(committed, creations))


def pending(db: sqlite3.Connection, limit: int) -> list[OutboxEntry]:
    rows = db.execute(
        "SELECT id, topic, key, event_id, payload, created_us FROM outbox "
        "WHERE confirmed_us IS NULL ORDER BY id LIMIT ?",
        (max(0, limit),),
    ).fetchall()
    return [
        OutboxEntry(int(i), str(t), str(k), str(e), json.loads(p), int(c))
        for i, t, k, e, p, c in rows
    ]


def mark_confirmed(db: sqlite3.Connection, ids: Sequence[int]) -> None:
    db.execute(
        "UPDATE outbox SET confirmed_us = ? WHERE confirmed_us IS NULL "
        "AND id IN (SELECT value FROM json_each(?))",
        (now_us(), json.dumps([int(i) for i in ids])),
    )


def reopen_confirmed(db: sqlite3.Connection, created_after_us: int) -> int:
    """Confirmed entries younger than the retention become pending again."""
    return db.execute(
        "UPDATE outbox SET confirmed_us = NULL WHERE confirmed_us IS NOT NULL AND created_us >= ?",
        (created_after_us,),
    ).rowcount


def delete_confirmed(db: sqlite3.Connection, created_before_us: int, limit: int = 1000) -> int:
    return db.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE confirmed_us IS NOT NULL "
        "AND created_us < ? ORDER BY created_us LIMIT ?)",
        (created_before_us, limit),
    ).rowcount
