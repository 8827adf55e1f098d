"""The shared run store: PostgreSQL, group-committed writes, fenced by owner and epoch.

Layers, each a module: `ReplicaSide` (postgres_replica: held epochs, claims, hints from
the other replicas over LISTEN/NOTIFY), `GroupCommitWriter` (postgres_group_commit: the
write queue, one commit per batch, storage faults), and this class: opening
(connections, migrations), the public writes and the reads. Reads, claims and heartbeats
use a small pool; the writer and the LISTEN connection have one each.

Ownership: every run this replica creates (epoch 1), claims (`claim_orphans`,
`claim_queued*`) or resumes (`unfinished_runs`) is held at its epoch, and each append is
fenced on it in SQL. A refused one fails with `RunOwnershipLost`, the run is dropped
from the held set (later appends fail at once) and the ownership-lost listeners are told.
A run this replica never held is accepted while its row names this replica as owner
(its epoch is learned from the row): a store of one replica then behaves as SQLite does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import asyncpg

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.runs import RunFilter, TenantScope, decode_page_token, encode_page_token
from orchestrator.store import postgres_jobs as jobs
from orchestrator.store import postgres_outbox
from orchestrator.store import postgres_reads as reads
from orchestrator.store.base import (
    Durability,
    RunRecord,
    StoreClosed,
    StoreOpenError,
)
from orchestrator.store.outbox_entries import (
    OUTBOX_CLEAN_INTERVAL_S,
    OUTBOX_RETENTION_S,
    outbox_window_s,
)
from orchestrator.store.outbox_topics import OutboxEntry, TopicEvent
from orchestrator.store.postgres_group_commit import GroupCommitWriter
from orchestrator.store.postgres_requests import AppendRequest, CreateRequest
from orchestrator.store.postgres_schema import current_schema, migrate
from orchestrator.store.postgres_writes import BatchWriter

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
POOL_ACQUIRE_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0


log = logging.getLogger(__name__)


class PostgresRunStore(GroupCommitWriter):
    """`ReplicatedRunStore` on PostgreSQL. Use `async with` or `open()` / `close()`."""

    def __init__(
        self,
        url: str,
        *,
        replica_id: str,
        tenant: str = "default",
        lease_s: float = 5.0,
        address: str = "",
        max_batch: int = 2000,
        linger_s: float = 0.002,
        retention_s: float = 0.0,
        purge_interval_s: float | None = None,
        recent_runs: int = 1024,
        pool_size: int = 4,
        command_timeout_s: float = 30.0,
        durability: Durability = "fsync",
        outbox: bool = False,
        outbox_retention_s: float = OUTBOX_RETENTION_S,
    ) -> None:
        """`replica_id`: the owner of the runs this store creates and claims; `retention_s`:
        finished runs are deleted that long after they end (0: never); `pool_size`:
        connections for reads and claims; `command_timeout_s`: a statement taking longer
        is a storage fault (a hung server); `durability`: "fsync" waits for the server's
        WAL flush on every commit, "normal" does not (see `GroupCommitWriter._connect`).
        `outbox`: each commit also writes the event bus's entries (the `Outbox` methods
        below); confirmed ones are kept `outbox_retention_s`, at most the run retention."""
        self._outbox = outbox
        self._outbox_retention_s = outbox_window_s(outbox_retention_s, retention_s)
        self._outbox_cleaned = 0.0
        super().__init__(
            url,
            replica_id=replica_id,
            tenant=tenant,
            lease_s=lease_s,
            address=address,
            max_batch=max_batch,
            linger_s=linger_s,
            retention_s=retention_s,
            purge_interval_s=purge_interval_s,
            recent_runs=recent_runs,
            command_timeout_s=command_timeout_s,
            durability=durability,
        )
        self._pool_size = max(1, pool_size)
        self._state = "new"  # new -> open -> closing -> closed
        self._drain_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.forced_syncs = 0
        """`append_durable` calls (transaction decisions)."""

    # --- lifecycle ----------------------------------------------------------

    async def open(self) -> None:
        """Connects, applies pending migrations, starts the writer and the listener.

        `StoreOpenError` (one line, no password) when the server cannot be reached, the
        URL is bad, or the database's schema is newer than this code.
        """
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreClosed(f"run store {self._where} was closed; make a new one")
        try:
            self._db = await self._connect("connection")
            self._writer_pid = self._db.get_server_pid()
            schema = await current_schema(self._db, self.url)
            await migrate(self._db, self.url, schema)
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                command_timeout=self._command_timeout_s,
                timeout=POOL_ACQUIRE_TIMEOUT_S,
            )
            await self._start_replica_side(schema)
        except BaseException as error:
            await self._release()
            self._state = "closed"
            if isinstance(error, StoreOpenError) or not isinstance(error, Exception):
                raise
            problem = " ".join(str(error).split()) or type(error).__name__
            raise StoreOpenError(f"run store {self._where} cannot be opened: {problem}") from None
        self._writer = BatchWriter(self.tenant, self.replica_id, self.channel, outbox=self._outbox)
        self._state = "open"
        self._drain_task = asyncio.create_task(self._drain(), name=f"run-store-writer:{schema}")
        self._schedule_purge(0.0)

    async def close(self) -> None:
        """Commits everything already queued, then closes. Idempotent."""
        if self._state == "new":
            self._state = "closed"
        if self._state == "open":
            self._state = "closing"
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
        await self._release()
        self._state = "closed"

    async def _release(self) -> None:
        """Closes every connection politely, or cuts it when the server does not answer."""
        await self._stop_replica_side()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
            except Exception:
                pool.terminate()
        db, self._db = self._db, None
        if db is not None and not db.is_closed():
            try:
                await asyncio.wait_for(db.close(), CLOSE_TIMEOUT_S)
            except Exception:
                db.terminate()

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
        return self._enqueue(request, 1, urgent=True)

    def append(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        final = any(event.HasField("run_finished") for event in events)
        return self._enqueue(AppendRequest(tuple(events)), len(events), urgent=final)

    def append_durable(self, events: Sequence[run_pb2.RunEvent]) -> asyncio.Future[None]:
        """`append`, resolved once the commit is on the server's disk whatever the
        durability: with "fsync" every commit already is; with "normal" (synchronous_commit
        off on the writer) one small transaction with synchronous_commit on follows it, and
        its commit waits for the WAL to be flushed up to itself, so past the events' commit
        too. `forced_syncs` counts the calls."""
        self.forced_syncs += 1
        committed = self.append(events)
        if self._durability == "fsync":
            return committed
        return asyncio.ensure_future(self._flushed_after(committed))

    async def _flushed_after(self, committed: asyncio.Future[None]) -> None:
        """Retried with backoff while the server cannot be reached: until the flush is
        confirmed nobody may act on the decision, and confirming twice is harmless."""
        await committed
        delay_s = 0.05
        while True:
            if self._pool is None:
                raise StoreClosed(f"run store {self._where} closed before a flush was confirmed")
            try:
                async with self._pool.acquire() as db, db.transaction():
                    await db.execute("SET LOCAL synchronous_commit = on")
                    await db.fetchval("SELECT pg_current_xact_id()")  # a commit record to flush
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning(
                    "run store %s: confirming a flush failed (%s); retrying", self._where, error
                )
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, 2.0)

    async def delete_run(self, run: str) -> None:
        self._history.forget([run])
        await self._job(lambda db: jobs.delete_finished_run(db, self.tenant, run, self.channel))

    async def delete_definition(self, name: str) -> bool:
        return await self._job(lambda db: jobs.delete_definition(db, self.tenant, name))

    async def put_definition(self, definition: workflow_pb2.WorkflowDefinition) -> bool:
        return await self._job(lambda db: jobs.store_definition(db, self.tenant, definition))

    # --- reads --------------------------------------------------------------

    async def read_events(
        self, run: str, after_seq: int = 0, *, scope: TenantScope
    ) -> list[run_pb2.RunEvent]:
        self._require_open()
        run_tenant = scope.tenant
        if run_tenant is None:  # the cache knows no tenants: a client's read goes to SQL
            cached = self._history.get(run, after_seq)
            if cached is not None:
                return cached
        return await self._read(
            lambda db: reads.read_events(db, self.tenant, run, after_seq, run_tenant)
        )

    async def get_run_record(self, run: str, *, scope: TenantScope) -> RunRecord | None:
        run_tenant = scope.tenant
        return await self._read(lambda db: reads.get_run_record(db, self.tenant, run, run_tenant))

    async def list_runs(
        self, run_filter: RunFilter, page_size: int, page_token: str, *, scope: TenantScope
    ) -> tuple[list[RunRecord], str]:
        """`page_size` <= 0 means 50; more than 1000 means 1000."""
        after = decode_page_token(page_token, run_filter)
        size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        run_tenant = scope.tenant
        records, last = await self._read(
            lambda db: reads.list_runs(db, self.tenant, run_filter, size, after, run_tenant)
        )
        return records, "" if last is None else encode_page_token(last, run_filter)

    async def unfinished_runs(self) -> list[str]:
        """Runs this replica owns that are not finished nor queued, oldest first; from
        now on they are held at their epochs."""
        owned = await self._read(
            lambda db: reads.owned_unfinished_runs(db, self.tenant, self.replica_id)
        )
        for run, epoch in owned:
            self._held.setdefault(run, epoch)
            self._lost.discard(run)  # dropped after a lost lease, and still ours
        return [run for run, _ in owned]

    async def list_definitions(self) -> list[workflow_pb2.WorkflowDefinition]:
        return await self._read(lambda db: reads.list_definitions(db, self.tenant))

    async def queue_depth(self) -> int:
        return await self._read(lambda db: reads.queue_depth(db, self.tenant))

    # --- the event bus's outbox (orchestrator.bus.Outbox) ------------------------

    async def pending(self, limit: int) -> list[OutboxEntry]:
        """Claims them for this replica's relay (see postgres_outbox)."""
        return await self._read(
            lambda db: postgres_outbox.claim_pending(db, self.tenant, self.replica_id, limit)
        )

    async def mark_confirmed(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        await self._read(lambda db: postgres_outbox.mark_confirmed(db, self.tenant, ids))
        now = time.monotonic()
        if now - self._outbox_cleaned >= OUTBOX_CLEAN_INTERVAL_S:
            self._outbox_cleaned = now
            cutoff_us = postgres_outbox.now_us() - int(self._outbox_retention_s * 1_000_000)
            await self._read(
                lambda db: postgres_outbox.delete_confirmed(db, self.tenant, cutoff_us)
            )

    async def reopen_confirmed(self) -> int:
        after_us = postgres_outbox.now_us() - int(self._outbox_retention_s * 1_000_000)
        return await self._read(
            lambda db: postgres_outbox.reopen_confirmed(db, self.tenant, after_us)
        )

    async def record_outbox(self, events: Sequence[TopicEvent]) -> None:
        """Outbox entries that are no run's events (service.state): a job of their own."""
        await self._job(lambda db: postgres_outbox.write_events(db, self.tenant, events))
