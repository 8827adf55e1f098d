"""What waits for a store's writer, shared by the SQLite and PostgreSQL stores.

The drain takes a batch of writes from the head of the queue, up to the next job; a job
(a delete, storing a definition, a purge) runs alone, in its own transaction, after every
write queued before it. After a storage fault the queue is sorted out: creations are
refused (nobody was told their run exists), and the writes of acknowledged runs wait, in
order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.store.sqlite_requests import AppendRequest


@dataclass(slots=True)
class Job:
    """Work on the writer's connection in its own transaction, in queue order with the
    writes (`run` takes the connection: sqlite3's, or asyncpg's and then returns an
    awaitable)."""

    run: Callable[[Any], Any]


@dataclass(slots=True)
class Queued:
    request: Any  # the store's CreateRequest or AppendRequest, or a Job
    future: asyncio.Future[Any]
    size: int  # events it writes


def take_batch(queue: deque[Queued], max_events: int) -> list[Queued]:
    """A job alone, or the writes at the head up to `max_events` events or the next job."""
    batch = [queue.popleft()]
    if isinstance(batch[0].request, Job):
        return batch
    size = batch[0].size
    while queue and size + queue[0].size <= max_events and not isinstance(queue[0].request, Job):
        item = queue.popleft()
        size += item.size
        batch.append(item)
    return batch


def fail(item: Queued, error: BaseException) -> bool:
    """Fails a queued write; asyncio is not to log it if nobody awaits it (a refused run's
    progress events, the engine does not wait for)."""
    if not item.future.done():
        item.future.set_exception(error)
        item.future.add_done_callback(_retrieve)
    return True


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def refuse_creations(
    items: Iterable[Queued], error: BaseException, creation: type[Any]
) -> deque[Queued]:
    """Fails every creation (requests of type `creation`, and the appends of only those
    runs) with `error`; returns the rest, in order."""
    refused: set[str] = set()
    waiting: deque[Queued] = deque()
    for item in items:
        if isinstance(item.request, creation):
            refused.add(item.request.event.run)
            fail(item, error)
        else:
            waiting.append(item)
    if not refused:
        return waiting
    return deque(  # events of a refused run would only be rejected later
        item
        for item in waiting
        if not (
            isinstance(item.request, AppendRequest)
            and all(event.run in refused for event in item.request.events)
            and fail(item, error)
        )
    )
