"""What waits for the PostgreSQL store's writer: run creations, appends and jobs, in order.

The drain takes a batch of writes from the head of the queue, up to the next job; a job
(a delete, storing a definition, a purge) runs alone in its own transaction, after every
write queued before it. After a storage fault the queue is sorted out as on SQLite:
creations are refused (nobody was told their run exists), and the writes of acknowledged
runs wait, in order.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from aura.orchestrator.v1 import run_pb2
from orchestrator.store import write_queue
from orchestrator.store.sqlite_requests import AppendRequest, RunAdvance, timestamp_us
from orchestrator.store.write_queue import Job, Queued, fail, take_batch

__all__ = ["AppendRequest", "Job", "Queued", "RunAdvance", "fail", "take_batch", "timestamp_us"]


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


def refuse_creations(items: Iterable[Queued], error: BaseException) -> deque[Queued]:
    """Fails every creation (and the appends of only those runs) with `error`; returns
    the rest, in order."""
    return write_queue.refuse_creations(items, error, CreateRequest)
