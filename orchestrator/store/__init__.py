"""Event-sourced storage of runs: the `RunStore` contract, its SQLite implementation and
the PostgreSQL one several replicas share."""

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
from orchestrator.store.postgres import PostgresRunStore
from orchestrator.store.sqlite import SqliteRunStore

__all__ = [
    "CancelListener",
    "Claim",
    "CommitListener",
    "EventSequenceConflict",
    "OwnershipLostListener",
    "PostgresRunStore",
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
