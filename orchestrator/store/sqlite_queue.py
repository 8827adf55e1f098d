"""What waits for the SQLite store's writer: the shared write queue (`write_queue`), with
SQLite's own creation requests as the ones a storage fault refuses."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from orchestrator.store import write_queue
from orchestrator.store.sqlite_requests import CreateRequest
from orchestrator.store.write_queue import Job, Queued, fail, take_batch

__all__ = ["Job", "Queued", "fail", "refuse_creations", "take_batch"]


def refuse_creations(items: Iterable[Queued], error: BaseException) -> deque[Queued]:
    """Fails every creation (and the appends of only those runs) with `error`; returns
    the rest, in order."""
    return write_queue.refuse_creations(items, error, CreateRequest)
