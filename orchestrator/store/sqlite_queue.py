"""What waits for the SQLite store's writer: queued writes and jobs, in order.

The drain takes a batch of writes from the head of the queue, up to the next job; a job
(a delete, storing a definition) runs alone, in its own transaction, after every write
queued before it. After a storage fault the queue is sorted out: creations are refused
(nobody was told their run exists), and the writes of acknowledged runs wait, in order.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.store.sqlite_requests import AppendRequest, CreateRequest, WriteRequest


@dataclass(slots=True)
class Job:
    """Work for the writer thread in its own transaction, in queue order with the writes."""

    run: Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class Queued:
    request: WriteRequest | Job
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
    future.exception()


def refuse_creations(items: Iterable[Queued], error: BaseException) -> deque[Queued]:
    """Fails every creation (and the appends of only those runs) with `error`; returns
    the rest, in order."""
    refused: set[str] = set()
    waiting: deque[Queued] = deque()
    for item in items:
        if isinstance(item.request, CreateRequest):
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
