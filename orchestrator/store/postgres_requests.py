"""What waits for the PostgreSQL store's writer: run creations, appends and jobs, in order.

The drain takes a batch of writes from the head of the queue, up to the next job; a job
(a delete, storing a definition, a purge) runs alone in its own transaction, after every
write queued before it. After a storage fault the queue is sorted out as on SQLite:
creations are refused (nobody was told their run exists), and the writes of acknowledged
runs wait, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.store.sqlite_requests import AppendRequest, RunAdvance, timestamp_us

__all__ = ["AppendRequest", "RunAdvance", "timestamp_us"]


@dataclass(slots=True)
class CreateRequest:
    event: run_pb2.RunEvent  # the run_created event, seq 1
    request_id: str
    fingerprint: str
    queued: bool = False
    priority: int = 0

    def labels_json(self) -> str:
        labels = dict(self.event.run_created.labels)
        return json.dumps(labels, separators=(",", ":"), sort_keys=True)

    def create_time_us(self) -> int:
        return timestamp_us(self.event.time.seconds, self.event.time.nanos)

    def state(self) -> int:
        return run_pb2.RUN_STATE_QUEUED if self.queued else run_pb2.RUN_STATE_PENDING


WriteRequest = CreateRequest | AppendRequest
#: Per request: (name, created) for a creation, None for an append, or the error.
Outcome = tuple[str, bool] | None | BaseException


@dataclass
class BatchResult:
    """An outcome per request, the events committed (creations first, then appends, each
    run's in seq order) with their stored bodies, and what changed in ownership."""

    outcomes: list[Outcome]
    committed: list[run_pb2.RunEvent] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # runs another replica owns now
    held: dict[str, int] = field(default_factory=dict)  # runs held now, with their epochs


@dataclass(slots=True)
class Job:
    """Work on the writer connection in its own transaction, in queue order with the writes."""

    run: Callable[[asyncpg.Connection], Awaitable[Any]]


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
    if not future.cancelled():
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
