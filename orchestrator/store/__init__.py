"""Event-sourced storage of runs: the `RunStore` contract and its SQLite implementation."""

from orchestrator.store.base import (
    CommitListener,
    EventSequenceConflict,
    RunRecord,
    RunStore,
    StoreClosed,
    StoreOpenError,
    StoreUnavailable,
    WritableListener,
)
from orchestrator.store.sqlite import SqliteRunStore

__all__ = [
    "CommitListener",
    "EventSequenceConflict",
    "RunRecord",
    "RunStore",
    "SqliteRunStore",
    "StoreClosed",
    "StoreOpenError",
    "StoreUnavailable",
    "WritableListener",
]
