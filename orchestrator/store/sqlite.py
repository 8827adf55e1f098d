"""The embedded run store: one SQLite file in WAL mode, group-committed writes.

Threading: writes go through a queue drained by one writer task, which hands each batch
to a single writer thread (`BatchWriter`): one transaction, one commit (one fsync with
durability "fsync") however many events and runs it holds. While a batch is being
written, new appends pile up and form the next one, so batches grow with load. One
exception: with durability "normal" (no fsync) a small batch is written on the event loop
itself, where it takes about 0.1 ms, less than the two thread handoffs it would need.
Checkpoints run on the writer thread, every `CHECKPOINT_COMMITS` commits or
`CHECKPOINT_BYTES` of events (a small commit dirties a few pages: the WAL grows by
about 14 bytes per byte of event in single-run commits). Reads use their
own connections on a small pool of reader threads; WAL lets them run while the writer
commits.

Linger: the commits a caller waits on (a run's creation and its final event) start at
once. Other events, when the writer is idle, wait up to `linger_s` for company: the
engine usually has more to say within a fraction of a millisecond (the next step's start,
the run's end), and the writer thread then works while the run waits on a backend rather
than competing for the interpreter lock with the step it just started.

Recent history in memory: the store keeps the committed events of the runs created by
this process while they are unfinished, and of the last `recent_runs` finished ones, so
`read_events` for them (the engine's read right after a run finishes, a watcher's catch-up)
needs no reader thread and no SQL. It keeps them as the serialized bodies the writer
stored, not as message objects, for a parse on read: with 10,000 runs in flight holding
their histories, message objects took about 14 KB a run more. A run created before
this process started is read from the file as before.

Storage faults: when a batch fails for a reason outside its requests (disk full, I/O
error, read-only file), nothing of it is written. Its run creations, and any still
queued, fail at once with `StoreUnavailable` (UNAVAILABLE + RetryInfo: their callers were
never told the run exists), and so do new ones while the fault lasts; the events of
acknowledged runs go back to the front of the queue, in order, and are retried with
backoff (a probe write when none wait), so their runs only pause. `writable` and its
listeners (readiness) say which state the store is in. A bad request still fails alone.
A shutdown calls `stop_holding_writes` first, so its drain never waits for space.

Retention and deletes: finished runs older than `retention_s` are deleted with their
events, `PURGE_BATCH_RUNS` at a time in their own transaction on the writer thread,
between batches of writes, so a purge never holds a commit up for long. Deleting a run
or a definition, and storing a definition, are jobs in the write queue: each runs after
every write queued before it.

The run queue: a queued run is a row in state QUEUED (with its priority) and its
`run_created`; it takes no events until claimed. Claims are jobs in the write queue
(`sqlite_run_queue`), so they are serialized with every creation and final event and a
definition's concurrency limit holds. `queue_depth` is counted at open and then followed
in memory (one process writes the file), so asking it costs nothing. Queued runs are not
kept in the recent history in memory: up to AURA_MAX_QUEUED_RUNS of them may wait.

Visibility: commit listeners (the event hub, analytics) are called on the event loop
after the commit and before the appenders' futures resolve, so nobody sees an
uncommitted event, and an appender that awaited its future knows the hub has it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.runs import RunFilter, TenantScope, decode_page_token, encode_page_token
from orchestrator.store import sqlite_deletes, sqlite_outbox, sqlite_reads, sqlite_run_queue
from orchestrator.store.base import (
    Claim,
    CommitListener,
    Durability,
    RunRecord,
    StoreClosed,
    StoreUnavailable,
    WritableListener,
)
from orchestrator.store.outbox_entries import (
    OUTBOX_CLEAN_INTERVAL_S,
    OUTBOX_RETENTION_S,
    outbox_window_s,
)
from orchestrator.store.outbox_topics import OutboxEntry, TopicEvent
from orchestrator.store.sqlite_faults import StorageFault
from orchestrator.store.sqlite_queue import Job, Queued, fail, refuse_creations, take_batch
from orchestrator.store.sqlite_requests import AppendRequest, CreateRequest, Outcome, WriteRequest
from orchestrator.store.sqlite_schema import connect_reader, connect_writer
from orchestrator.store.sqlite_sync import fsync_wal
from orchestrator.store.sqlite_writes import BatchWriter, store_definition

_log = logging.getLogger(__name__)
T = TypeVar("T")

# A batch of at most this many events is written on the loop when nothing is fsynced.
INLINE_BATCH_EVENTS = 16
CHECKPOINT_COMMITS = 1000
CHECKPOINT_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Retention: runs deleted per transaction, and the pause between two while more are due.
PURGE_BATCH_RUNS = 100
PURGE_PAUSE_S = 0.02
# Storage faults: retry delays (doubling), and what a refused caller is told to wait.
FAULT_RETRY_MIN_S = 0.05
FAULT_RETRY_MAX_S = 2.0
STORE_RETRY_AFTER_S = 1.0
# One process writes a SQLite file: its claims need no fencing, every epoch is 1.
CLAIM_EPOCH = 1


class SqliteRunStore:
    """`RunStore` on a SQLite file. Use `async with` or `open()` / `close()`."""

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "normal",
        max_batch: int = 2000,
        reader_threads: int = 4,
        recent_runs: int = 1024,
        linger_s: float = 0.005,
        retention_s: float = 0.0,
        purge_interval_s: float | None = None,
        outbox: bool = False,
        outbox_retention_s: float = OUTBOX_RETENTION_S,
    ) -> None:
        """`retention_s`: finished runs are deleted that long after they end (0: never);
        `purge_interval_s`: how often to look for them (default: a tenth of the
        retention, between 0.5 s and a minute). `outbox`: each commit also writes the
        event bus's entries (the `Outbox` methods below; off: the store pays nothing);
        confirmed ones are kept `outbox_retention_s`, at most the run retention."""
        self.path = Path(path)
        self._outbox = outbox
        self._outbox_retention_s = outbox_window_s(outbox_retention_s, retention_s)
        self._outbox_cleaned = 0.0
        self._durability: Durability = durability
        self.forced_syncs = 0
        """fsyncs forced by `append_durable` (transaction decisions)."""
        self._max_batch = max(1, max_batch)
        self._reader_threads = max(1, reader_threads)
        self._queue: deque[Queued] = deque()
        self._listeners: list[CommitListener] = []
        self._state = "new"  # new -> open -> closing -> closed
        self._writer: BatchWriter | None = None
        self._write_thread: ThreadPoolExecutor | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._wakeup = asyncio.Event()
        self._linger_s = linger_s
        self._linger: asyncio.TimerHandle | None = None
        self._drain_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        # Committed events of unfinished runs created here, and of recently finished ones.
        self._live: dict[str, list[bytes]] = {}
        self._recent: OrderedDict[str, list[bytes]] = OrderedDict()
        self._recent_runs = max(0, recent_runs)
        self._writable = True
        self._holding = True  # False once a shutdown began: see stop_holding_writes
        self._writable_listeners: list[WritableListener] = []
        self._fault_delay_s = FAULT_RETRY_MIN_S
        self._retention_s = max(0.0, retention_s)
        if purge_interval_s is None:
            purge_interval_s = min(60.0, max(0.5, self._retention_s / 10))
        self._purge_interval_s = max(0.01, purge_interval_s)
        self._purge_due = False
        self._purge_timer: asyncio.TimerHandle | None = None
        # QUEUED runs in the file: counted once at open, then followed (one writer process).
        self._queued_runs = 0

    # --- lifecycle ----------------------------------------------------------

    async def open(self) -> None:
        """Creates the file, directory and schema if missing. A no-op when already open."""
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreClosed(f"run store {self.path} was closed; make a new one")
        loop = asyncio.get_running_loop()
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="aura-store-writer")
        self._read_threads = ThreadPoolExecutor(
            self._reader_threads, thread_name_prefix="aura-store-reader"
        )
        try:
            connection, self._queued_runs = await loop.run_in_executor(
                self._write_thread, _connect_and_count_queue, self.path, self._durability
            )
        except BaseException:
            self._write_thread.shutdown(wait=False)
            self._read_threads.shutdown(wait=False)
            self._state = "closed"
            raise
        self._writer = BatchWriter(connection, outbox=self._outbox)
        self._state = "open"
        self._drain_task = asyncio.create_task(self._drain(), name=f"run-store-writer:{self.path}")
        self._schedule_purge(0.0)

    async def close(self) -> None:
        """Commits everything already queued, then closes. Idempotent."""
        if self._state == "new":
            self._state = "closed"
        if self._state == "open":
            self._state = "closing"  # refuse new writes from now on
            self._close_task = asyncio.create_task(self._shut_down())
        if self._close_task is not None:
            await asyncio.shield(self._close_task)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _shut_down(self) -> None:
        if self._purge_timer is not None:
            self._purge_timer.cancel()
        self._wakeup.set()
        if self._drain_task is not None:
            await asyncio.gather(self._drain_task, return_exceptions=True)
        assert self._write_thread is not None and self._read_threads is not None
        await asyncio.to_thread(self._read_threads.shutdown, True)
        with self._reader_lock:
            for connection in self._reader_connections:
                connection.close()
            self._reader_connections.clear()
        if self._writer is not None:  # the last connection out checkpoints the WAL
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._write_thread, self._writer.close)
        await asyncio.to_thread(self._write_thread.shutdown, True)
        self._state = "closed"

    # --- writes -------------------------------------------------------------

    @property
    def commit_count(self) -> int:
        """Write transactions committed so far (one per group commit)."""
        return 0 if self._writer is None else self._writer.commit_count

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    @property
    def replica_id(self) -> str:
        return "local"

    def create_run(
        self,
        created: run_pb2.RunEvent,
        *,
        request_id: str = "",
        fingerprint: str = "",
        queued: bool = False,
        priority: int = 0,
    ) -> asyncio.Future[tuple[str, bool]]:
        if created.seq != 1 or created.WhichOneof("event") != "run_created" or not created.run:
            raise ValueError("create_run takes a run's run_created event, with seq 1 and a run")
        if not self._writable:
            raise self._unavailable()
        request = CreateRequest(created, request_id, fingerprint, queued, priority)
        creation: asyncio.Future[tuple[str, bool]] = self._enqueue(request, 1, urgent=True)
        if queued:
            creation.add_done_callback(self._count_queued)
        return creation

    def commit_soon(self) -> None:
        if self._queue:
            self._wakeup.set()

    def _count_queued(self, creation: asyncio.Future[tuple[str, bool]]) -> None:
        if not creation.cancelled() and creation.exception() is None and creation.result()[1]:
            self._queued_runs += 1

    def append(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        final = any(event.HasField("run_finished") for event in events)
        return self._enqueue(AppendRequest(tuple(events)), len(events), urgent=final)

    def append_durable(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        """`append`, then one fsync of the WAL (see sqlite_sync) before the future resolves,
        whatever the durability setting; `forced_syncs` counts them."""
        loop = asyncio.get_running_loop()
        durable: asyncio.Future[None] = loop.create_future()
        committed = self._enqueue(AppendRequest(tuple(events)), len(events), urgent=True)

        def synced(done: asyncio.Future[Any]) -> None:
            if durable.done():
                return
            if done.cancelled():
                durable.cancel()
            elif done.exception() is not None:
                durable.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                durable.set_result(None)

        def then_sync(done: asyncio.Future[None]) -> None:
            if done.cancelled() or done.exception() is not None:
                synced(done)
                return
            self.forced_syncs += 1
            if self._durability == "fsync":  # the commit itself was synced
                synced(done)
                return
            try:
                self._job(lambda _: fsync_wal(self.path)).add_done_callback(synced)
            except StoreClosed as error:
                durable.set_exception(error)

        committed.add_done_callback(then_sync)
        return durable

    def _enqueue(self, request: WriteRequest, size: int, *, urgent: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._state != "open":
            future.set_exception(StoreClosed(f"run store {self.path} is not open"))
            return future
        self._queue.append(Queued(request, future, size))
        if urgent or self._linger_s <= 0:
            self._wakeup.set()
        elif self._linger is None and not self._wakeup.is_set():
            self._linger = loop.call_later(self._linger_s, self._wakeup.set)
        return future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._writer is not None
        while True:
            if self._purge_due and self._writable:
                await self._purge()
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
                if self._durability == "normal" and sum(item.size for item in batch) <= (
                    INLINE_BATCH_EVENTS
                ):
                    outcomes, committed, bodies = self._writer.write(requests)
                else:
                    outcomes, committed, bodies = await loop.run_in_executor(
                        self._write_thread, self._writer.write, requests
                    )
            except asyncio.CancelledError:
                for item in [*batch, *self._queue]:
                    item.future.cancel()
                self._queue.clear()
                raise
            except StorageFault as fault:
                if self._hold(batch, fault):
                    await self._wait_until_writable()
                continue
            except Exception as error:  # the writer itself broke; write() catches DB errors
                outcomes, committed, bodies = [error] * len(batch), [], []
            else:
                if committed and not self._writable:  # a batch was written: the fault is over
                    self._set_writable(True)
            if committed:
                self._remember(committed, bodies)
                self._notify(committed)
            self._settle(batch, outcomes)
            writer = self._writer
            if (
                writer.commits_since_checkpoint >= CHECKPOINT_COMMITS
                or writer.bytes_since_checkpoint >= CHECKPOINT_BYTES
            ):
                await self._checkpoint()

    # --- storage faults -----------------------------------------------------

    @property
    def writable(self) -> bool:
        return self._writable

    def add_writable_listener(self, listener: WritableListener) -> None:
        self._writable_listeners.append(listener)

    def _unavailable(self, cause: object = None) -> StoreUnavailable:
        why = f" ({cause})" if cause is not None else ""
        return StoreUnavailable(
            f"run store {self.path} cannot write{why}; retry later",
            retry_after_s=STORE_RETRY_AFTER_S,
        )

    def _set_writable(self, writable: bool) -> None:
        if writable == self._writable:
            return
        self._writable = writable
        if writable:
            self._fault_delay_s = FAULT_RETRY_MIN_S
            _log.warning("run store %s can write again; waiting runs continue", self.path)
        for listener in self._writable_listeners:
            try:
                listener(writable)
            except Exception:
                _log.exception("run store writable listener %r failed", listener)

    def _hold(self, batch: list[Queued], fault: StorageFault) -> bool:
        """After a failed batch: refuses its creations and the queued ones, puts the other
        writes back at the front in order. False when closing: then everything fails."""
        if self._writable:
            _log.error("run store %s cannot write (%s); runs wait until it can", self.path, fault)
        self._set_writable(False)
        error = self._unavailable(fault)
        if self._state != "open" or not self._holding:  # unfinished runs resume after a restart
            for item in [*batch, *self._queue]:
                fail(item, error)
            self._queue.clear()
            return False
        waiting = refuse_creations([*batch, *self._queue], error)
        self._queue = waiting
        return True

    def stop_holding_writes(self) -> None:
        """For a shutdown: from now on writes that meet a storage fault fail at once with
        `StoreUnavailable`, and so do the ones held now, so nothing (the engine's stop)
        waits on a store that cannot write. Their runs resume from their committed events
        on the next start. Not for a running engine: its next event of such a run would no
        longer follow the last committed one."""
        self._holding = False
        if self._writable:
            return
        error = self._unavailable("given up for shutdown")
        for item in self._queue:
            fail(item, error)
        self._queue.clear()

    async def _wait_until_writable(self) -> None:
        """Backs off; then the drain retries the waiting writes, or a probe write runs."""
        loop = asyncio.get_running_loop()
        assert self._writer is not None
        while True:
            await asyncio.sleep(self._fault_delay_s)
            self._fault_delay_s = min(2 * self._fault_delay_s, FAULT_RETRY_MAX_S)
            if self._queue or self._state != "open":
                return
            try:
                await loop.run_in_executor(
                    self._write_thread, self._writer.run_job, sqlite_deletes.probe_write
                )
            except StorageFault:
                continue
            except Exception:
                _log.exception("probe write on %s failed", self.path)
                continue
            self._set_writable(True)
            return

    # --- jobs, deletes and retention -----------------------------------------

    async def _run_job(self, item: Queued) -> None:
        assert self._writer is not None and isinstance(item.request, Job)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._write_thread, self._writer.run_job, item.request.run
            )
        except StorageFault as fault:
            fail(item, self._unavailable(fault))
        except Exception as error:
            fail(item, error)
        else:
            if not item.future.done():
                item.future.set_result(result)

    def _job(self, run: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        self._require_open()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(Queued(Job(run), future, 0))
        self._wakeup.set()
        return future

    def _forget(self, runs: Sequence[str]) -> None:
        """Deleted runs out of the in-memory history (only finished runs are deleted)."""
        for run in runs:
            self._recent.pop(run, None)

    async def delete_run(self, run: str) -> None:
        # Forgotten first: a read meanwhile finds the run in the file until the delete commits.
        self._forget([run])
        await self._job(lambda db: sqlite_deletes.delete_finished_run(db, run))

    async def delete_definition(self, name: str) -> bool:
        return await self._job(lambda db: sqlite_deletes.delete_definition(db, name))

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
        assert self._writer is not None
        self._purge_due = False
        ended_before_us = int((time.time() - self._retention_s) * 1_000_000)
        try:
            deleted = await asyncio.get_running_loop().run_in_executor(
                self._write_thread,
                self._writer.run_job,
                lambda db: sqlite_deletes.delete_expired_runs(
                    db, ended_before_us, PURGE_BATCH_RUNS
                ),
            )
        except (StorageFault, sqlite3.Error) as error:
            _log.warning(
                "deleting expired runs from %s failed (%s); retrying later", self.path, error
            )
            self._schedule_purge(self._purge_interval_s)
            return
        self._forget(deleted)
        if deleted:
            _log.info("deleted %d runs that ended over %gs ago", len(deleted), self._retention_s)
        full = len(deleted) >= PURGE_BATCH_RUNS
        self._schedule_purge(PURGE_PAUSE_S if full else self._purge_interval_s)

    async def _checkpoint(self) -> None:
        assert self._writer is not None
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._write_thread, self._writer.checkpoint
            )
        except sqlite3.Error:
            _log.exception("checkpoint of %s failed; the next one retries", self.path)

    def _remember(self, committed: list[run_pb2.RunEvent], bodies: list[bytes]) -> None:
        """Keeps committed events in memory for `read_events` (see the module docstring)."""
        live = self._live
        for event, body in zip(committed, bodies, strict=True):
            events = live.get(event.run)
            if events is None:
                if event.seq != 1 or event.run_created.queued:
                    # A run this process did not create, or one that may wait long in
                    # the queue (up to AURA_MAX_QUEUED_RUNS of them): read from the file.
                    continue
                events = live[event.run] = []
            events.append(body)
            if event.WhichOneof("event") == "run_finished":
                del live[event.run]
                if self._recent_runs:
                    self._recent[event.run] = events
                    if len(self._recent) > self._recent_runs:
                        self._recent.popitem(last=False)

    def _notify(self, committed: list[run_pb2.RunEvent]) -> None:
        for listener in self._listeners:
            try:
                listener(committed)
            except Exception:
                _log.exception("run store commit listener %r failed", listener)

    @staticmethod
    def _settle(batch: list[Queued], outcomes: list[Outcome]) -> None:
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def put_definition(self, definition: workflow_pb2.WorkflowDefinition) -> bool:
        # A job, so it never shares the writer connection with a batch written on the loop.
        return await self._job(lambda db: store_definition(db, definition))

    # --- reads --------------------------------------------------------------

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        cached = self._live.get(run)
        if cached is None:
            cached = self._recent.get(run)
        if cached is not None:
            self._require_open()
            parse = run_pb2.RunEvent.FromString
            if scope.tenant is not None and not scope.admits(parse(cached[0]).run_created.tenant):
                return []
            # seq 1, 2, 3... are at 0, 1, 2...
            return [parse(body) for body in cached[max(0, after_seq) :]]
        tenant = scope.tenant
        return await self._read(lambda db: sqlite_reads.read_events(db, run, after_seq, tenant))

    async def get_run_record(self, run: str, *, scope: TenantScope) -> RunRecord | None:
        tenant = scope.tenant
        return await self._read(lambda db: sqlite_reads.get_run_record(db, run, tenant))

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str, *, scope: TenantScope
    ) -> tuple[list[RunRecord], str]:
        """`page_size` <= 0 means 50; more than 1000 means 1000."""
        after = decode_page_token(page_token, run_filter)
        size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        tenant = scope.tenant
        records, last = await self._read(
            lambda db: sqlite_reads.list_runs(db, run_filter, size, after, tenant)
        )
        return records, "" if last is None else encode_page_token(last, run_filter)

    async def unfinished_runs(self) -> list[str]:
        return await self._read(sqlite_reads.unfinished_runs)

    async def list_definitions(self) -> list[workflow_pb2.WorkflowDefinition]:
        return await self._read(sqlite_reads.list_definitions)

    # --- the run queue (see sqlite_run_queue) ---------------------------------

    async def claim_queued(self, limit: int, concurrency: Mapping[str, int]) -> list[Claim]:
        if limit <= 0 or not self._queued_runs:
            return []
        limits = dict(concurrency)
        claim = self._job(lambda db: sqlite_run_queue.claim_queued(db, limit, limits))
        claim.add_done_callback(lambda done: self._count_claimed(done, len))
        # Shielded: a claim committed for a caller that went away still leaves the count
        # right (its runs are PENDING, resumed on the next start).
        names = await asyncio.shield(claim)
        return [Claim(name, CLAIM_EPOCH) for name in names]

    async def claim_queued_run(self, run: str) -> Claim | None:
        claim = self._job(lambda db: sqlite_run_queue.claim_queued_run(db, run))
        claim.add_done_callback(lambda done: self._count_claimed(done, int))
        return Claim(run, CLAIM_EPOCH) if await asyncio.shield(claim) else None

    def _count_claimed(self, claim: asyncio.Future[Any], count: Callable[[Any], int]) -> None:
        if not claim.cancelled() and claim.exception() is None:
            self._queued_runs = max(0, self._queued_runs - count(claim.result()))

    async def queue_depth(self) -> int:
        """Kept in memory (counted at open): no query."""
        self._require_open()
        return self._queued_runs

    # --- the event bus's outbox (orchestrator.bus.Outbox) ------------------------

    async def pending(self, limit: int) -> list[OutboxEntry]:
        return await self._read(lambda db: sqlite_outbox.pending(db, limit))

    async def mark_confirmed(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        now = time.monotonic()
        clean = now - self._outbox_cleaned >= OUTBOX_CLEAN_INTERVAL_S
        if clean:
            self._outbox_cleaned = now
        cutoff_us = sqlite_outbox.now_us() - int(self._outbox_retention_s * 1_000_000)

        def confirm(db: sqlite3.Connection) -> None:
            sqlite_outbox.mark_confirmed(db, ids)
            if clean:
                sqlite_outbox.delete_confirmed(db, cutoff_us)

        await self._job(confirm)

    async def reopen_confirmed(self) -> int:
        after_us = sqlite_outbox.now_us() - int(self._outbox_retention_s * 1_000_000)
        return await self._job(lambda db: sqlite_outbox.reopen_confirmed(db, after_us))

    async def record_outbox(self, events: Sequence[TopicEvent]) -> None:
        """Outbox entries that are no run's events (service.state): a job of their own."""
        await self._job(lambda db: sqlite_outbox.write_events(db, events))

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        self._require_open()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_threads, self._run_read, query)

    def _run_read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if connection is None:
            connection = connect_reader(self.path)
            self._readers.connection = connection
            with self._reader_lock:
                self._reader_connections.append(connection)
        return query(connection)

    def _require_open(self) -> None:
        if self._state != "open":
            raise StoreClosed(f"run store {self.path} is not open")


def _connect_and_count_queue(path: Path, durability: Durability) -> tuple[sqlite3.Connection, int]:
    """The writer connection (see `connect_writer`) and how many runs wait in the queue."""
    connection = connect_writer(path, durability)
    try:
        return connection, sqlite_run_queue.count_queued(connection)
    except BaseException:
        connection.close()
        raise
