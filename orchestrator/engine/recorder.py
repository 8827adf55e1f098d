"""Appends a run's events in order; the engine is the single writer of a run."""

from __future__ import annotations

import asyncio
from typing import Any

from aura.orchestrator.v1 import run_pb2
from orchestrator.proto_time import stamp_now
from orchestrator.store import RunStore


class RunRecorder:
    """Numbers a run's events (seq 1, 2, 3...) and hands them to the store.

    `emit` does not wait for the commit: the store group-commits, and nobody
    sees an event before it is committed. The returned future resolves on
    commit, for the few places that must wait (the final event).
    """

    def __init__(self, store: RunStore, run: str, next_seq: int) -> None:
        self._store = store
        self.run = run
        self.next_seq = next_seq
        self.last_commit: asyncio.Future[None] | None = None

    def emit(self, **event: Any) -> asyncio.Future[None]:
        record = run_pb2.RunEvent(run=self.run, seq=self.next_seq, **event)
        stamp_now(record.time)
        self.next_seq += 1
        self.last_commit = self._store.append([record])
        return self.last_commit

    def emit_durable(self, **event: Any) -> asyncio.Future[None]:
        """Like `emit`, but the future resolves only once the event (and every event of the
        run before it) is on disk, forced whatever the store's durability setting: for a
        transaction's decision, which must outlive any crash before a Commit is sent."""
        record = run_pb2.RunEvent(run=self.run, seq=self.next_seq, **event)
        stamp_now(record.time)
        self.next_seq += 1
        self.last_commit = self._store.append_durable([record])
        return self.last_commit

    async def flush(self, *, urgent: bool = False) -> None:
        """Waits until every event emitted so far is committed; `urgent`: now, without the
        store's linger (someone waits on it)."""
        if self.last_commit is not None:
            if urgent and not self.last_commit.done():
                self._store.commit_soon()
            await asyncio.shield(self.last_commit)
