"""What every Outbox (orchestrator.bus.Outbox) must do, as checks any implementation
runs: the in-memory double here (tests/unit/bus), the SQLite and PostgreSQL stores'
outboxes once they exist. `OutboxUnderTest` adds entries the way the store's commit
does and hands the Outbox the relay reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from orchestrator.bus import Outbox


class OutboxUnderTest(Protocol):
    outbox: Outbox

    async def commit(self, topic: str, key: str, event_id: str, payload: dict[str, Any]) -> None:
        """Writes one entry as a store commit would (in its own transaction)."""
        ...


async def pending_entries_come_oldest_first_and_bounded(subject: OutboxUnderTest) -> None:
    for n in range(5):
        await subject.commit("run.finished", "k", f"e{n}", {"n": n})
    first = await subject.outbox.pending(3)
    assert [e.event_id for e in first] == ["e0", "e1", "e2"]
    assert [e.id for e in first] == sorted(e.id for e in first)
    assert first[0].payload == {"n": 0} and first[0].created_us > 0


async def confirmed_entries_are_no_longer_pending(subject: OutboxUnderTest) -> None:
    for n in range(4):
        await subject.commit("run.finished", "k", f"e{n}", {})
    entries = await subject.outbox.pending(10)
    await subject.outbox.mark_confirmed([entries[0].id, entries[2].id])
    await subject.outbox.mark_confirmed([entries[0].id, 10**12])  # again, and unknown: ignored
    assert [e.event_id for e in await subject.outbox.pending(10)] == ["e1", "e3"]


async def reopening_makes_every_confirmed_entry_pending_again(subject: OutboxUnderTest) -> None:
    for n in range(3):
        await subject.commit("run.finished", "k", f"e{n}", {})
    entries = await subject.outbox.pending(10)
    await subject.outbox.mark_confirmed([e.id for e in entries[:2]])
    assert await subject.outbox.reopen_confirmed() == 2
    assert [e.event_id for e in await subject.outbox.pending(10)] == ["e0", "e1", "e2"]


CONTRACT: tuple[Callable[[OutboxUnderTest], Awaitable[None]], ...] = (
    pending_entries_come_oldest_first_and_bounded,
    confirmed_entries_are_no_longer_pending,
    reopening_makes_every_confirmed_entry_pending_again,
)
