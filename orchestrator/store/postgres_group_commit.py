"""Group commit for the PostgreSQL store: one writer task, one transaction per batch.

Appends and creations wait in a queue drained by one task on one writer connection;
each batch is one transaction (`postgres_writes`), and while it commits new writes pile
up into the next one. Events nobody waits on linger up to `linger_s` for company; a
run's creation and its final event start a commit at once. Jobs (deletes, definitions)
and the retention purge run on the same connection, in queue order with the writes.

Storage faults, as on SQLite: when a batch fails for a reason outside its requests (server
down, connection lost, disk full: `postgres_faults`), its creations and any still queued
fail at once with `StoreUnavailable`, and so do new ones while it lasts; the events of
acknowledged runs go back to the front of the queue in order and are retried with
backoff on a new connection. A connection lost during COMMIT leaves the batch in doubt:
before retrying, what landed is read back (`postgres_doubt`); an append that landed is
acknowledged, a creation that landed (its caller was told UNAVAILABLE) is deleted again.

Visibility: commit listeners are called after the commit and before the appenders'
futures resolve, so nobody sees an uncommitted event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from aura.orchestrator.v1 import run_pb2
from orchestrator.store import postgres_jobs as jobs
from orchestrator.store.base import (
    CommitListener,
    Durability,
    RunOwnershipLost,
    StoreClosed,
    StoreOpenError,
    StoreUnavailable,
    WritableListener,
)
from orchestrator.store.postgres_doubt import resolve_in_doubt
from orchestrator.store.postgres_faults import StorageFault, is_storage_fault
from orchestrator.store.postgres_history import RecentHistory
from orchestrator.store.postgres_replica import ReplicaSide
from orchestrator.store.postgres_requests import (
    BatchResult,
    Job,
    Queued,
    WriteRequest,
    fail,
    refuse_creations,
    take_batch,
)
from orchestrator.store.postgres_schema import connect, redact
from orchestrator.store.postgres_writes import BatchWriter

_log = logging.getLogger(__name__)
T = TypeVar("T")

PURGE_BATCH_RUNS = 100
PURGE_PAUSE_S = 0.02
FAULT_RETRY_MIN_S = 0.05
FAULT_RETRY_MAX_S = 2.0
STORE_RETRY_AFTER_S = 1.0


class GroupCommitWriter(ReplicaSide):
    """The write side of `PostgresRunStore` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        replica_id: str,
        tenant: str,
        lease_s: float,
        address: str,
        max_batch: int,
        linger_s: float,
        retention_s: float,
        purge_interval_s: float | None,
        recent_runs: int,
        command_timeout_s: float,
        durability: Durability = "fsync",
    ) -> None:
        super().__init__(replica_id=replica_id, tenant=tenant, lease_s=lease_s, address=address)
        self.url = url
        self._durability: Durability = durability
        self._where = redact(url)
        self._max_batch = max(1, max_batch)
        self._command_timeout_s = command_timeout_s
        self._queue: deque[Queued] = deque()
        self._listeners: list[CommitListener] = []
        self._db: asyncpg.Connection | None = None  # the writer's; None after a fault
        self._writer: BatchWriter | None = None
        self._wakeup = asyncio.Event()
        self._linger_s = linger_s
        self._linger: asyncio.TimerHandle | None = None
        self._history = RecentHistory(recent_runs)
        self._writable = True
        self._holding = True
        self._writable_listeners: list[WritableListener] = []
        self._fault_delay_s = FAULT_RETRY_MIN_S
        self._in_doubt: list[Queued] = []  # a batch whose COMMIT may or may not have landed
        self._retention_s = max(0.0, retention_s)
        if purge_interval_s is None:
            purge_interval_s = min(60.0, max(0.5, self._retention_s / 10))
        self._purge_interval_s = max(0.01, purge_interval_s)
        self._purge_due = False
        self._purge_timer: asyncio.TimerHandle | None = None

    async def _connect(self, what: str) -> asyncpg.Connection:
        """The writer's connection. Durability "normal" commits without waiting for the
        server's WAL flush (synchronous_commit off): a commit is visible to every replica at
        once and survives any replica being killed, but a crash of the database server itself
        may lose its last fraction of a second, as SQLite's "normal" may lose it to a power
        cut. "fsync" waits for the flush."""
        connection = await connect(self.url, what=what, command_timeout=self._command_timeout_s)
        if self._durability == "normal":
            await connection.execute("SET synchronous_commit = off")
        return connection

    async def _writer_connection(self) -> asyncpg.Connection:
        """The writer's connection, a new one after a fault; `StorageFault` if none."""
        if self._db is not None and not self._db.is_closed():
            return self._db
        self._db = None
        try:
            self._db = await self._connect("the writer's connection")
        except StoreOpenError as error:
            raise StorageFault(error) from None
        self._writer_pid = self._db.get_server_pid()
        return self._db

    def _drop_writer(self) -> None:
        if self._db is not None:
            self._db.terminate()
            self._db = None

    # --- writes -------------------------------------------------------------

    @property
    def commit_count(self) -> int:
        """Write transactions committed so far (one per group commit)."""
        return 0 if self._writer is None else self._writer.commit_count

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def commit_soon(self) -> None:
        """Commits what is queued now, without waiting out the linger."""
        if self._queue:
            self._wakeup.set()

    def _enqueue(self, request: WriteRequest, size: int, *, urgent: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._state != "open":
            future.set_exception(StoreClosed(f"run store {self._where} is not open"))
            return future
        self._queue.append(Queued(request, future, size))
        if urgent or self._linger_s <= 0:
            self._wakeup.set()
        elif self._linger is None and not self._wakeup.is_set():
            self._linger = loop.call_later(self._linger_s, self._wakeup.set)
        return future

    async def _drain(self) -> None:
        assert self._writer is not None
        while True:
            if self._purge_due and self._writable:
                await self._purge()
            if self._in_doubt:  # first: a creation that landed must not stay
                await self._settle_in_doubt()
                continue
            if not self._queue:
                if self._state != "open":
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
            batch = take_batch(self._queue, self._max_batch)
            if isinstance(batch[0].request, Job):
                await self._run_job(batch[0])
                continue
            requests: list[WriteRequest] = [item.request for item in batch]
            try:
                db = await self._writer_connection()
                result = await self._writer.write(db, requests, self._held, self._lost)
            except asyncio.CancelledError:
                for item in [*batch, *self._queue]:
                    item.future.cancel()
                self._queue.clear()
                raise
            except StorageFault as fault:
                self._drop_writer()
                if fault.in_doubt:
                    self._in_doubt = list(batch)
                if self._hold(batch, fault):
                    await self._wait_until_writable()
                continue
            except Exception as error:  # the writer itself broke; write() catches DB errors
                result = BatchResult([error] * len(batch))
            if result.committed and not self._writable:
                self._set_writable(True)
            self._apply(result)
            self._settle(batch, result)

    def _apply(self, result: BatchResult) -> None:
        """Ownership and history after a commit, then the commit listeners."""
        self._held.update(result.held)
        for run in result.held:
            self._lost.discard(run)
        self._history.remember(result.committed, result.bodies, self._held)
        for event in result.committed:
            if event.HasField("run_finished"):
                self._held.pop(event.run, None)
        if result.committed:
            self._notify(result.committed)
        for run in result.lost:
            _log.warning("run %s was taken over by another replica; its writes stop here", run)
            self._ownership_lost(run)

    def drop_held_runs(self) -> list[str]:
        """This replica lost its lease (paused, or cut off from the database): every run
        it holds is treated as lost at once (appends fail, recent history is dropped,
        the ownership-lost listeners are told). `unfinished_runs` holds again those it
        still owns; claims hold the runs they take. Returns the runs dropped."""
        dropped = list(self._held)
        if dropped:
            _log.warning("lease lost: the %d runs held here stop writing", len(dropped))
        for run in dropped:
            self._ownership_lost(run)
        return dropped

    def _forget_deleted(self, runs: list[str]) -> None:
        self._history.forget(runs)

    def _ownership_lost(self, run: str) -> None:
        self._held.pop(run, None)
        self._lost.add(run)
        self._history.forget([run])
        self._tell(self._ownership_lost_listeners, run)

    def _notify(self, committed: list[run_pb2.RunEvent]) -> None:
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:
                _log.exception("run store commit listener %r failed", listener)

    @staticmethod
    def _settle(batch: list[Queued], result: BatchResult) -> None:
        for item, outcome in zip(batch, result.outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, RunOwnershipLost):
                fail(item, outcome)  # expected once a run is lost: nobody need wait on it
            elif isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def _settle_in_doubt(self) -> None:
        """After a COMMIT lost with its connection: acknowledges what landed, deletes the
        creations that landed (their callers were told UNAVAILABLE), retries the rest."""
        doubtful, self._in_doubt = self._in_doubt, []
        try:
            db = await self._writer_connection()
            landed = await resolve_in_doubt(db, self.tenant, doubtful)
        except Exception as error:
            if not is_storage_fault(error):  # a bug: retry as if nothing landed
                _log.exception("checking a batch in doubt on %s failed", self._where)
                return
            self._drop_writer()
            self._in_doubt = doubtful
            await self._wait_until_writable(retry_soon=True)
            return
        if landed.committed:
            self._apply(landed)
        acknowledged = {id(item) for item in landed.acknowledged}
        self._queue = deque(item for item in self._queue if id(item) not in acknowledged)
        for item in landed.acknowledged:
            if not item.future.done():
                item.future.set_result(None)
        if not self._queue and not self._writable:
            await self._wait_until_writable()  # nothing else waits: a probe tells

    # --- storage faults -----------------------------------------------------

    @property
    def writable(self) -> bool:
        return self._writable

    def add_writable_listener(self, listener: WritableListener) -> None:
        self._writable_listeners.append(listener)

    def _unavailable(self, cause: object = None) -> StoreUnavailable:
        why = f" ({cause})" if cause is not None else ""
        return StoreUnavailable(
            f"run store {self._where} cannot write{why}; retry later",
            retry_after_s=STORE_RETRY_AFTER_S,
        )

    def _set_writable(self, writable: bool) -> None:
        if writable == self._writable:
            return
        self._writable = writable
        if writable:
            self._fault_delay_s = FAULT_RETRY_MIN_S
            _log.warning("run store %s can write again; waiting runs continue", self._where)
        for listener in self._writable_listeners:
            try:
                listener(writable)
            except Exception:
                _log.exception("run store writable listener %r failed", listener)

    def _hold(self, batch: list[Queued], fault: StorageFault) -> bool:
        """After a failed batch: refuses its creations and the queued ones, puts the other
        writes back at the front in order. False when closing: then everything fails."""
        if self._writable:
            _log.error("run store %s cannot write (%s); runs wait until it can", self._where, fault)
        self._set_writable(False)
        error = self._unavailable(fault)
        if self._state != "open" or not self._holding:
            for item in [*batch, *self._queue]:
                fail(item, error)
            self._queue.clear()
            self._in_doubt = []
            return False
        self._queue = refuse_creations([*batch, *self._queue], error)
        return True

    def stop_holding_writes(self) -> None:
        """For a shutdown: from now on writes that meet a storage fault fail at once with
        `StoreUnavailable`, and so do the ones held now (see `SqliteRunStore`)."""
        self._holding = False
        if self._writable:
            return
        error = self._unavailable("given up for shutdown")
        for item in self._queue:
            fail(item, error)
        self._queue.clear()

    async def _wait_until_writable(self, *, retry_soon: bool = False) -> None:
        """Backs off; then the drain retries the waiting writes, or a probe write runs."""
        while True:
            await asyncio.sleep(self._fault_delay_s)
            self._fault_delay_s = min(2 * self._fault_delay_s, FAULT_RETRY_MAX_S)
            if retry_soon or self._queue or self._in_doubt or self._state != "open":
                return
            try:
                db = await self._writer_connection()
                async with db.transaction():
                    await jobs.probe_write(db, self.tenant)
            except Exception as error:
                if not is_storage_fault(error):
                    _log.exception("probe write on %s failed", self._where)
                self._drop_writer()
                continue
            self._set_writable(True)
            return

    # --- jobs, deletes and retention -----------------------------------------

    async def _run_job(self, item: Queued) -> None:
        assert isinstance(item.request, Job)
        try:
            db = await self._writer_connection()
            async with db.transaction():
                result = await item.request.run(db)
        except Exception as error:
            if is_storage_fault(error):
                self._drop_writer()
                error = self._unavailable(error)
            fail(item, error)
        else:
            if not item.future.done():
                item.future.set_result(result)

    def _job(self, run: Callable[[asyncpg.Connection], Awaitable[T]]) -> asyncio.Future[T]:
        self._require_open()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(Queued(Job(run), future, 0))
        self._wakeup.set()
        return future

    def _schedule_purge(self, delay_s: float) -> None:
        if self._retention_s <= 0 or self._state != "open":
            return
        self._purge_timer = asyncio.get_running_loop().call_later(delay_s, self._purge_now)

    def _purge_now(self) -> None:
        self._purge_timer = None
        self._purge_due = True
        self._wakeup.set()

    async def _purge(self) -> None:
        """Deletes one batch of expired runs; schedules the next look."""
        self._purge_due = False
        ended_before_us = int((time.time() - self._retention_s) * 1_000_000)
        try:
            db = await self._writer_connection()
            async with db.transaction():
                deleted = await jobs.delete_expired_runs(
                    db, self.tenant, ended_before_us, PURGE_BATCH_RUNS, self.channel
                )
        except Exception as error:
            if is_storage_fault(error):
                self._drop_writer()
            _log.warning(
                "deleting expired runs from %s failed (%s); retrying later", self._where, error
            )
            self._schedule_purge(self._purge_interval_s)
            return
        self._history.forget(deleted)
        if deleted:
            _log.info("deleted %d runs that ended over %gs ago", len(deleted), self._retention_s)
        full = len(deleted) >= PURGE_BATCH_RUNS
        self._schedule_purge(PURGE_PAUSE_S if full else self._purge_interval_s)
