"""What every run store provides: the contract the engine, API and watchers code against.

A run is an append-only sequence of `RunEvent`s (seq 1, 2, 3... without gaps), plus a
small projection row (`RunRecord`) kept in step with the events in the same
transaction, so runs can be listed and filtered without folding their history.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import grpc

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import AuraError
from orchestrator.names import DEFAULT_TENANT
from orchestrator.runs import RunFilter, TenantScope, request_id_of

#: "normal": a commit survives the orchestrator being killed; "fsync": also the machine
#: (or the database server) losing power. AURA_DURABILITY.
Durability = Literal["normal", "fsync"]
#: Called after a commit with the events it made durable, in commit order.
CommitListener = Callable[[Sequence[run_pb2.RunEvent]], None]
#: Called when the store stops (False) or starts again (True) being able to write.
WritableListener = Callable[[bool], None]
#: Called with a run this replica held and lost to another one (its writes are refused).
OwnershipLostListener = Callable[[str], None]
#: Called with (run, reason) when a Cancel asked on another replica reaches a run held here.
CancelListener = Callable[[str, str], None]
#: Called with (run, last_seq) when another replica committed events of `run` up to it.
RemoteCommitListener = Callable[[str, int], None]


@dataclass(frozen=True)
class RunRecord:
    """The projection row of a run, for listing without folding."""

    name: str
    workflow_definition: str
    state: int  # run_pb2.RunState value
    create_time: float  # unix seconds
    end_time: float | None
    labels: dict[str, str] = field(hash=False)
    request_id: str
    last_seq: int
    #: Whose run it is (WorkflowRun.tenant); reads are scoped by it.
    tenant: str = DEFAULT_TENANT


def record_from_row(row: Any) -> RunRecord:
    """A `RunRecord` from (name, workflow_definition, state, create_time_us, end_time_us,
    labels as a JSON object or its text, request_id or None, last_seq, tenant): both
    stores' projection rows, as their reads select them."""
    name, definition, state, create_time_us, end_time_us, labels, request_id, last_seq = row[:8]
    return RunRecord(
        name=name,
        workflow_definition=definition,
        state=state,
        create_time=create_time_us / 1_000_000,
        end_time=None if end_time_us is None else end_time_us / 1_000_000,
        labels=labels if isinstance(labels, dict) else json.loads(labels),
        request_id=request_id_of(request_id or ""),
        last_seq=last_seq,
        tenant=row[8] if len(row) > 8 else DEFAULT_TENANT,
    )


class EventSequenceConflict(AuraError):
    """An append that would break a run's history: duplicate or missing seq, or after the end.

    Means a second writer or an engine bug; the events are not stored.
    """

    code = grpc.StatusCode.ABORTED
    default_reason = "EVENT_SEQ_CONFLICT"


class RunOwnershipLost(AuraError):
    """This replica no longer owns the run: another one took it over (epoch + 1).

    Every event write is fenced by the owner and epoch, so nothing of the refused
    append is stored; the engine stops executing the run here.
    """

    code = grpc.StatusCode.ABORTED
    default_reason = "RUN_OWNERSHIP_LOST"


@dataclass(frozen=True)
class Claim:
    """A run this replica just took (from the queue or from a dead replica)."""

    run: str
    epoch: int
    cancel_reason: str = ""  # a Cancel asked before the claim, to carry out at once


@dataclass(frozen=True)
class ReplicaInfo:
    """One replica of a shared store, as the store sees it."""

    id: str
    address: str
    heartbeat_age_s: float  # by the database's clock
    alive: bool  # heartbeat younger than the lease
    owned_runs: int


class StoreClosed(AuraError):
    """The store was used before `open()` or after `close()`."""

    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "STORE_CLOSED"


class StoreUnavailable(AuraError):
    """The store cannot write now (disk full, I/O error, read-only file): retry later.

    New runs are refused with this while it lasts; events of runs already acknowledged
    wait in order and are written once the store can write again.
    """

    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "STORE_UNAVAILABLE"


class StoreOpenError(RuntimeError):
    """The store cannot start: its message is one line naming the path and the problem."""


class RunStore(Protocol):
    """Durable, event-sourced storage of runs and workflow definitions."""

    async def open(self) -> None: ...

    async def close(self) -> None:
        """Flushes pending appends, then releases resources. Idempotent."""
        ...

    @property
    def replica_id(self) -> str:
        """Who writes through this store: the owner of the runs it creates and claims."""
        ...

    def create_run(
        self,
        created: run_pb2.RunEvent,
        *,
        request_id: str = "",
        fingerprint: str = "",
        queued: bool = False,
        priority: int = 0,
    ) -> asyncio.Future[tuple[str, bool]]:
        """Queues a new run from its `run_created` event (seq 1); the future resolves once
        it is committed. Events of the run appended after this call commit after it.

        Not `queued`: the run is owned by this replica (epoch 1). `queued`: its state is
        RUN_STATE_QUEUED and nobody owns it until `claim_queued` hands it out.

        With a `request_id` already used: the same `fingerprint` gives (existing name,
        False); a different one raises `AlreadyExists` (reason "REQUEST_ID_REUSED").
        Otherwise returns (created.run, True). While the store cannot write, raises
        `StoreUnavailable` at once; a creation caught in a failed commit fails with it too.
        """
        ...

    def append(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        """Queues events; the future resolves once they are durably committed.

        Calls commit in call order. A seq that is not the run's next one, an event for
        an unknown run or after its `run_finished` fails the future with
        `EventSequenceConflict` / `NotFound`; nothing of that call is stored. While the
        store cannot write, the future waits (in order) until it can.
        """
        ...

    def append_durable(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        """`append`, and the future resolves only once the events are on disk whatever the
        store's durability setting (SQLite with durability "normal" forces an fsync of its
        WAL after the commit; a PostgreSQL commit already is). For a transaction's
        decision, which must be durable before any Commit is sent."""
        ...

    def commit_soon(self) -> None:
        """Commits what is queued now, without waiting out the linger: someone waits on it
        (a transaction's start must be on record before its first Prepare)."""
        ...

    def add_commit_listener(self, listener: CommitListener) -> None:
        """`listener` is called on the event loop after each commit, never before."""
        ...

    # Reads of runs and events name their `scope` (no default): a client's call reads its
    # tenant's runs only; another tenant's run reads as no run at all (empty, None).

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]: ...

    async def get_run_record(self, run: str, *, scope: TenantScope) -> RunRecord | None: ...

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str, *, scope: TenantScope
    ) -> tuple[list[RunRecord], str]:
        """Runs matching the filter, newest first; the next token is "" on the last page."""
        ...

    async def unfinished_runs(self) -> list[str]:
        """Runs to resume after a restart, oldest first: not final, not QUEUED, and owned
        by this replica (on a store of one replica: every such run)."""
        ...

    async def claim_queued(self, limit: int, concurrency: Mapping[str, int]) -> list[Claim]:
        """Takes up to `limit` QUEUED runs, highest priority first, then oldest.

        `concurrency` maps a definition to the most runs of it that may be unfinished
        and not QUEUED at once (across every replica); its queued runs beyond that
        stay queued. Claimed runs become PENDING, owned by this replica.
        """
        ...

    async def claim_queued_run(self, run: str) -> Claim | None:
        """Takes one QUEUED run by name (to cancel it); None if it is not queued any more."""
        ...

    async def queue_depth(self) -> int:
        """How many runs are QUEUED now."""
        ...

    async def put_definition(self, definition: workflow_pb2.WorkflowDefinition) -> bool:
        """True if newly stored, False if identical to the stored one.

        Different content under the same name raises `AlreadyExists`.
        """
        ...

    async def list_definitions(self) -> list[workflow_pb2.WorkflowDefinition]:
        """Every stored definition, ordered by name."""
        ...

    async def delete_run(self, run: str) -> None:
        """Deletes a finished run and its events, after every write queued before it.

        `NotFound` for an unknown run, `FailedPrecondition` for one not finished.
        """
        ...

    async def delete_definition(self, name: str) -> bool:
        """Deletes a stored definition; False if none was stored under `name`.

        `FailedPrecondition` while a run of it is unfinished.
        """
        ...

    @property
    def writable(self) -> bool:
        """False while writes fail for a reason outside any request (see StoreUnavailable)."""
        ...

    def add_writable_listener(self, listener: WritableListener) -> None:
        """`listener` is called on the event loop each time `writable` changes."""
        ...


class ReplicatedRunStore(RunStore, Protocol):
    """A store shared by several replicas (PostgreSQL): ownership, takeover, cross-talk."""

    lease_s: float

    async def heartbeat(self) -> None:
        """Renews this replica's row (the database's clock). Call about once a second."""
        ...

    async def last_seqs(self, runs: Sequence[str]) -> dict[str, int]:
        """The last committed seq of each existing run of `runs`, in one read."""
        ...

    async def pending_cancels(self) -> list[tuple[str, str]]:
        """(run, reason) of runs owned here that a Cancel was asked for (`request_cancel`):
        polled, so a missed cancel hint delays a Cancel, never loses it."""
        ...

    async def retire(self) -> None:
        """This replica stopped, its runs' events committed: the other replicas may take
        its unfinished runs over at once (they would after its lease anyway)."""
        ...

    async def claim_orphans(self, limit: int) -> list[Claim]:
        """Takes up to `limit` unfinished runs whose owner's heartbeat is older than
        `lease_s` (or that have no owner and are not QUEUED): epoch + 1, owner = us."""
        ...

    async def request_cancel(self, run: str, reason: str) -> None:
        """Records a Cancel for `run` (durable until it ends) and tells its owner."""
        ...

    async def list_replicas(self) -> list[ReplicaInfo]: ...

    def drop_held_runs(self) -> list[str]:
        """This replica lost its lease (paused, or cut off): every run it holds is lost
        at once (its appends fail, cached history goes, the ownership-lost listeners are
        told); `unfinished_runs` holds again the runs it still owns. Returns them."""
        ...

    def add_ownership_lost_listener(self, listener: OwnershipLostListener) -> None: ...

    def add_cancel_listener(self, listener: CancelListener) -> None: ...

    def add_remote_commit_listener(self, listener: RemoteCommitListener) -> None:
        """Hints (LISTEN/NOTIFY), never the events: read them with `read_events`."""
        ...

    def add_queue_listener(self, listener: Callable[[], None]) -> None:
        """Called when another replica queued a run or freed a slot."""
        ...


def replicated(store: RunStore) -> ReplicatedRunStore | None:
    """The store as a shared one, or None for a store of one replica (SQLite)."""
    return store if hasattr(store, "claim_orphans") else None  # type: ignore[return-value]
