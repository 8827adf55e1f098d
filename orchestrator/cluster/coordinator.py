"""One replica's part in a cluster sharing a `ReplicatedRunStore`.

- Heartbeat: this replica's row, every `tick_s` (1 s, or a quarter of a shorter lease),
  by the database's clock. A replica whose heartbeat is older than the store's lease
  (5 s by default) is dead.
- Takeover: each tick claims orphaned runs (of dead replicas) in batches and hands them
  to the engine, which resumes them from their histories as a restart does; a Cancel
  asked before the claim is carried out as the run resumes.
- Cancels asked on other replicas for runs executing here reach the engine: from the
  store's hint at once, or from each tick's look at the runs held here (a lost hint).
- The run queue is poked on each queue notification and each tick; the definitions
  other replicas created are read each tick (for listings; runs read them at once).
- Cut off: when no heartbeat succeeded for nearly a lease, this replica stops executing
  its runs (others will take them over; every write of ours is fenced by the epoch
  anyway) rather than keep calling backends for runs it may no longer own. Once a
  heartbeat succeeds again, it resumes those of its runs that nobody took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine import Engine
from orchestrator.errors import AuraError
from orchestrator.events import RemoteEventFeed
from orchestrator.store import Claim, ReplicatedRunStore

__all__ = ["DEFAULT_CLAIM_BATCH", "DEFAULT_TICK_S", "ReplicaCoordinator"]

log = logging.getLogger(__name__)

DEFAULT_TICK_S = 1.0
DEFAULT_CLAIM_BATCH = 100


class ReplicaCoordinator:
    """`await start()`, then `await stop()` (idempotent); or `async with`."""

    def __init__(
        self,
        store: ReplicatedRunStore,
        engine: Engine,
        *,
        feed: RemoteEventFeed | None = None,
        poke_queue: Callable[[], None] | None = None,
        on_history: Callable[[list[run_pb2.RunEvent]], None] | None = None,
        tick_s: float | None = None,
        claim_batch: int = DEFAULT_CLAIM_BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.engine = engine
        self.feed = feed
        # The run queue's drainer (`poke()`): told when a queued run may be claimable.
        self.poke_queue = poke_queue
        self.on_history = on_history
        # About once a second; at least four heartbeats per lease.
        self.tick_s = min(DEFAULT_TICK_S, store.lease_s / 4) if tick_s is None else tick_s
        self.claim_batch = claim_batch
        self._clock = clock
        # Stop executing this long after the start of the last heartbeat that succeeded:
        # a tick before others may claim our runs.
        self.fence_after_s = max(store.lease_s - self.tick_s, store.lease_s / 2)
        self._last_beat = clock()
        self._fenced = False
        self._released: list[asyncio.Future[None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_claims = asyncio.Event()
        self._unadopted: list[Claim] = []  # claimed, but their histories did not read yet
        self.taken_over = 0  # runs claimed from dead replicas so far

    @property
    def fenced(self) -> bool:
        """True while this replica, cut off from the store, executes nothing."""
        return self._fenced

    async def start(self) -> Self:
        self.store.add_ownership_lost_listener(self.engine.lose_ownership)
        self.store.add_cancel_listener(self.engine.cancel_here)
        self.store.add_queue_listener(self._poke_queue)
        if self.feed is not None:
            self.store.add_remote_commit_listener(self.feed.on_remote_commit)
            self.store.add_commit_listener(self.feed.on_local_commit)
            self.feed.start()
        started = self._clock()
        await self.store.heartbeat()  # alive before the first claim
        self._last_beat = started
        self._tasks = [
            asyncio.create_task(self._heartbeats(), name="replica-heartbeat"),
            asyncio.create_task(self._claims(), name="replica-claims"),
        ]
        return self

    def stop_claiming(self) -> None:
        """No more takeovers (draining); heartbeats go on until `stop`."""
        claims = [task for task in self._tasks if task.get_name() == "replica-claims"]
        for task in claims:
            task.cancel()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.feed is not None:
            await self.feed.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Heartbeat and the lease ------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            started = self._clock()
            left_s = self._last_beat + self.fence_after_s - started
            if left_s <= 0:
                await self._fence(started - self._last_beat)  # paused, or cut off
            try:
                # A heartbeat that hangs may not delay the fence past its time.
                timeout_s = left_s if left_s > 0 else self.fence_after_s
                async with asyncio.timeout(timeout_s):  # wait_for may swallow a cancel (3.11)
                    await self.store.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("heartbeat failed: %s", str(error) or type(error).__name__)
                silent_s = self._clock() - self._last_beat
                if silent_s > self.fence_after_s:
                    await self._fence(silent_s)
            else:
                self._last_beat = started
                if self._fenced:
                    self._wake_claims.set()  # the claims task resumes what nobody took
            await asyncio.sleep(max(0.0, self.tick_s - (self._clock() - started)))

    async def _fence(self, silent_s: float) -> None:
        if self._fenced:
            return
        self._fenced = True
        log.error(
            "no heartbeat for %.1fs (lease %.1fs): executing no run until the store answers "
            "again; other replicas take them over",
            silent_s,
            self.store.lease_s,
        )
        # The store first: reads of these runs stop coming from its cache of them, and
        # its ownership-lost listeners stop each executor here.
        self.store.drop_held_runs()
        recorders = await self.engine.release_all()
        self._released = [r.last_commit for r in recorders if r.last_commit is not None]

    # Claims -----------------------------------------------------------------

    async def _claims(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):  # wait_for may swallow a cancel (3.11)
                    await self._wake_claims.wait()
            self._wake_claims.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except AuraError as error:  # the store cannot be used now, say: no traceback
                log.warning("claiming runs failed (%s); trying again in %.1fs", error, self.tick_s)
            except Exception:
                log.exception("claiming runs failed; trying again in %.1fs", self.tick_s)

    async def tick(self) -> None:
        """One round: take back our runs after a cut, claim orphans, poke the queue."""
        if self._clock() - self._last_beat > self.fence_after_s:
            return  # not sure we are alive: claim nothing
        if self._fenced:
            await self._recover()
        if self._unadopted:
            retry, self._unadopted = self._unadopted, []
            self._unadopted = await self.engine.adopt(retry, self.on_history)
        while True:
            claims = await self.store.claim_orphans(self.claim_batch)
            if not claims:
                break
            self.taken_over += len(claims)
            log.info("took over %d runs of dead replicas", len(claims))
            self._unadopted += await self.engine.adopt(claims, self.on_history)
            if len(claims) < self.claim_batch:
                break
        for run, reason in await self.store.pending_cancels():
            self.engine.cancel_here(run, reason)  # once per run: later calls change nothing
        await self.engine.catalog.refresh()  # definitions other replicas created
        self._poke_queue()

    async def _recover(self) -> None:
        """After a cut: once the events still queued are committed (or refused), resume
        the runs that are still ours."""
        released, self._released = self._released, []
        if released:
            await asyncio.wait(released, timeout=self.store.lease_s)
        self._fenced = False
        resumed = await self.engine.resume_unfinished(self.on_history)
        log.warning("the store answers again: resumed %d runs nobody took over", len(resumed))

    def _poke_queue(self) -> None:
        if self.poke_queue is not None:
            self.poke_queue()
