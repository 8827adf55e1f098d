"""Event-sourced storage of runs: the `RunStore` contract and its SQLite implementation."""

from orchestrator.store.base import (
    CancelListener,
    Claim,
    CommitListener,
    EventSequenceConflict,
    OwnershipLostListener,
    RemoteCommitListener,
    ReplicaInfo,
    ReplicatedRunStore,
    RunOwnershipLost,
    RunRecord,
    RunStore,
    StoreClosed,
    StoreOpenError,
    StoreUnavailable,
    WritableListener,
    replicated,
)
from orchestrator.store.sqlite import SqliteRunStore

__all__ = [
    "CancelListener",
    "Claim",
    "CommitListener",
    "EventSequenceConflict",
    "OwnershipLostListener",
    "RemoteCommitListener",
    "ReplicaInfo",
    "ReplicatedRunStore",
    "RunOwnershipLost",
    "RunRecord",
    "RunStore",
    "SqliteRunStore",
    "StoreClosed",
    "StoreOpenError",
    "StoreUnavailable",
    "WritableListener",
    "replicated",
]
