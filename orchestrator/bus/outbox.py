"""The outbox the relay reads: what a run store must provide, and an in-memory double.

A store that produces events (run created/finished, step failed, breaker and health
transitions) writes each one as an outbox entry *in the same transaction* as the run
events it describes, so a crash between the commit and the publish loses nothing: the
relay publishes what is pending, at least once, and marks it confirmed after Redis
acknowledged it. What the store must provide (`Outbox`):

- `pending(limit)`: unconfirmed entries, oldest first (by `id`, a number increasing
  with commit order), at most `limit`.
- `mark_confirmed(ids)`: those entries were published; idempotent; unknown ids ignored.
- `reopen_confirmed()`: Redis was emptied or restarted (it keeps nothing on disk): every
  confirmed entry still retained becomes pending again (the relay republishes it; the
  event_id makes that harmless to the consumers). Returns how many.
- Retention: confirmed entries are kept at least as long as a stream keeps events
  (BusSettings.max_event_age_s, 7 days), then may be deleted; pending ones never are.
- Durability: `mark_confirmed` and `reopen_confirmed` are committed before they return.

SQL sketch: `outbox(id BIGSERIAL/INTEGER PRIMARY KEY, topic, key, event_id UNIQUE,
payload JSON, created_us, confirmed_us NULL)`, index on `(id) WHERE confirmed_us IS NULL`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from orchestrator.bus.model import BusEvent
from orchestrator.store import OutboxEntry as OutboxEntry
from orchestrator.store import tenant_of


def event_of(entry: OutboxEntry) -> BusEvent:
    """The event of an outbox entry, on its tenant's stream (a run's event: the run's
    tenant; the orchestrator's own: the default tenant's)."""
    return BusEvent(
        entry.topic,
        entry.key,
        entry.event_id,
        entry.payload,
        tenant=tenant_of(entry.topic, entry.payload),
    )


@runtime_checkable
class Outbox(Protocol):
    async def pending(self, limit: int) -> Sequence[OutboxEntry]: ...

    async def mark_confirmed(self, ids: Sequence[int]) -> None: ...

    async def reopen_confirmed(self) -> int: ...


class InMemoryOutbox:
    """The Outbox contract in memory, for tests and benchmarks (not durable)."""

    def __init__(self) -> None:
        self._entries: dict[int, OutboxEntry] = {}
        self._confirmed: set[int] = set()
        self._next_id = 1
        self.changed = asyncio.Event()

    def add(self, topic: str, key: str, event_id: str, payload: dict[str, Any]) -> OutboxEntry:
        """What a store commit does (in its transaction)."""
        entry = OutboxEntry(
            self._next_id, topic, key, event_id, payload, int(time.time() * 1_000_000)
        )
        self._entries[entry.id] = entry
        self._next_id += 1
        self.changed.set()
        return entry

    async def pending(self, limit: int) -> Sequence[OutboxEntry]:
        waiting = (e for i, e in self._entries.items() if i not in self._confirmed)
        return [entry for entry, _ in zip(waiting, range(limit), strict=False)]

    async def mark_confirmed(self, ids: Sequence[int]) -> None:
        self._confirmed.update(i for i in ids if i in self._entries)

    async def reopen_confirmed(self) -> int:
        count = len(self._confirmed)
        self._confirmed.clear()
        return count

    @property
    def unconfirmed(self) -> int:
        return len(self._entries) - len(self._confirmed)
