"""The replica side of the PostgreSQL store: held epochs, claims, hints from the others.

`PostgresRunStore` builds on this: it keeps which runs this replica holds (run -> epoch;
the writer fences every append on it) and which it lost, hands the cluster SQL
(`postgres_cluster`, one pooled connection per call) the tenant and replica id, adds
what a claim returns to the held set, and turns the LISTEN connection's payloads into
calls of the remote-commit, cancel and queue listeners. Its own commits come back on
the channel too; they are recognised by the writer's backend pid and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar, cast

import asyncpg

from orchestrator.errors import AuraError
from orchestrator.store import postgres_cluster as cluster
from orchestrator.store.base import (
    CancelListener,
    Claim,
    OwnershipLostListener,
    RemoteCommitListener,
    ReplicaInfo,
    StoreClosed,
    StoreUnavailable,
)
from orchestrator.store.postgres_faults import is_storage_fault
from orchestrator.store.postgres_notify import (
    NotificationListener,
    channel_name,
    parse_payload,
    queue_lock_key,
)
from orchestrator.store.postgres_schema import connect

_log = logging.getLogger(__name__)
T = TypeVar("T")
A = TypeVar("A")

_READ_RETRY_AFTER_S = 1.0
_DEFAULT_CANCEL_REASON = "cancelled by request"


class ReplicaSide:
    def __init__(self, *, replica_id: str, tenant: str, lease_s: float, address: str) -> None:
        if not replica_id:
            raise ValueError("a PostgreSQL run store needs a replica_id")
        self._replica_id = replica_id
        self.tenant = tenant
        self.lease_s = lease_s
        self.address = address
        self.url = ""
        self._where = ""
        self._state = "new"
        self._pool: asyncpg.Pool | None = None
        self._held: dict[str, int] = {}
        self._lost: set[str] = set()
        self._writer_pid = 0
        self.channel = ""
        self._lock_key = 0
        self._notifications: NotificationListener | None = None
        self._ownership_lost_listeners: list[OwnershipLostListener] = []
        self._cancel_listeners: list[CancelListener] = []
        self._remote_commit_listeners: list[RemoteCommitListener] = []
        self._queue_listeners: list[Callable[[], None]] = []
        self._background: set[asyncio.Task[None]] = set()

    @property
    def replica_id(self) -> str:
        return self._replica_id

    def holds(self, run: str) -> bool:
        """Whether this replica holds `run` now (its appends are accepted)."""
        return run in self._held

    async def _start_replica_side(self, schema: str) -> None:
        self.channel = channel_name(schema, self.tenant)
        self._lock_key = queue_lock_key(schema, self.tenant)
        self._notifications = NotificationListener(
            lambda: connect(self.url, what="the LISTEN connection"),
            self.channel,
            self._on_payload,
            self._on_listen_restored,
        )
        await self._notifications.start()

    async def _stop_replica_side(self) -> None:
        if self._notifications is not None:
            await self._notifications.stop()
            self._notifications = None

    # --- cluster SQL --------------------------------------------------------

    async def heartbeat(self) -> None:
        await self._read(
            lambda db: cluster.heartbeat(db, self.tenant, self._replica_id, self.address)
        )

    async def claim_orphans(self, limit: int) -> list[Claim]:
        claims = await self._read(
            lambda db: cluster.claim_orphans(db, self.tenant, self._replica_id, self.lease_s, limit)
        )
        return self._took(claims)

    async def claim_queued(self, limit: int, concurrency: Mapping[str, int]) -> list[Claim]:
        claims = await self._read(
            lambda db: cluster.claim_queued(
                db, self.tenant, self._replica_id, limit, concurrency, self._lock_key
            )
        )
        return self._took(claims)

    async def claim_queued_run(self, run: str) -> Claim | None:
        claim = await self._read(
            lambda db: cluster.claim_queued_run(db, self.tenant, self._replica_id, run)
        )
        return None if claim is None else self._took([claim])[0]

    async def request_cancel(self, run: str, reason: str) -> None:
        await self._read(
            lambda db: cluster.request_cancel(db, self.tenant, run, reason, self.channel)
        )

    async def last_seqs(self, runs: Sequence[str]) -> dict[str, int]:
        return await self._read(lambda db: cluster.last_seqs(db, self.tenant, runs))

    async def pending_cancels(self) -> list[tuple[str, str]]:
        return await self._read(
            lambda db: cluster.pending_cancels(db, self.tenant, self._replica_id)
        )

    async def retire(self) -> None:
        await self._read(lambda db: cluster.retire(db, self.tenant, self._replica_id))

    async def list_replicas(self) -> list[ReplicaInfo]:
        return await self._read(lambda db: cluster.list_replicas(db, self.tenant, self.lease_s))

    def _took(self, claims: list[Claim]) -> list[Claim]:
        for claim in claims:
            self._held[claim.run] = claim.epoch
            self._lost.discard(claim.run)
        return claims

    # --- listeners ----------------------------------------------------------

    def add_ownership_lost_listener(self, listener: OwnershipLostListener) -> None:
        self._ownership_lost_listeners.append(listener)

    def add_cancel_listener(self, listener: CancelListener) -> None:
        self._cancel_listeners.append(listener)

    def add_remote_commit_listener(self, listener: RemoteCommitListener) -> None:
        self._remote_commit_listeners.append(listener)

    def add_queue_listener(self, listener: Callable[[], None]) -> None:
        self._queue_listeners.append(listener)

    def _forget_deleted(self, runs: list[str]) -> None:
        """Runs another replica deleted: out of any history kept in memory here."""

    def _on_payload(self, pid: int, payload: str) -> None:
        hints = parse_payload(payload)
        if hints.deleted:
            self._forget_deleted(hints.deleted)
        if pid != self._writer_pid:  # our own commits need no hint
            for run, last_seq in hints.commits:
                self._tell(self._remote_commit_listeners, run, last_seq)
            if hints.queue_changed:
                self._tell(self._queue_listeners)
        for run, reason in hints.cancels:
            if run not in self._held:
                continue
            if reason:
                self._tell(self._cancel_listeners, run, reason)
            else:  # a payload without the reason: the run's row has it
                task = asyncio.get_running_loop().create_task(self._tell_cancel(run))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _tell_cancel(self, run: str) -> None:
        try:
            reason = await self._read(
                lambda db: db.fetchval(
                    "SELECT cancel_reason FROM runs WHERE tenant = $1 AND name = $2",
                    self.tenant,
                    run,
                )
            )
        except Exception as error:  # the owner's own poll of cancel_reason still sees it
            _log.warning("reading the Cancel of %s failed: %s", run, error)
            reason = None
        self._tell(self._cancel_listeners, run, reason or _DEFAULT_CANCEL_REASON)

    def _on_listen_restored(self) -> None:
        self._tell(self._queue_listeners)  # a `q` may have been missed meanwhile

    @staticmethod
    def _tell(listeners: list[Callable[..., None]], *args: object) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:
                _log.exception("run store listener %r failed", listener)

    # --- pooled connections ---------------------------------------------------

    async def _read(self, query: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Runs `query` on a pooled connection; a storage fault is `StoreUnavailable`."""
        self._require_open()
        assert self._pool is not None
        try:
            async with self._pool.acquire() as proxy:
                # The proxy forwards every call to its pooled Connection.
                return await query(cast(asyncpg.Connection, proxy))
        except AuraError:
            raise
        except Exception as error:
            if is_storage_fault(error):
                raise StoreUnavailable(
                    f"run store {self._where} cannot be used now ({error}); retry later",
                    retry_after_s=_READ_RETRY_AFTER_S,
                ) from error
            raise

    def _require_open(self) -> None:
        if self._state != "open":
            raise StoreClosed(f"run store {self._where} is not open")
