"""The durable run queue, engine side: who waits in it, and the drainer that empties it.

A run goes to the queue (created RUN_STATE_QUEUED, answered at once) when the engine
already executes `max_active_runs` runs, when runs are already waiting (so a newcomer
does not overtake them), or when its definition has `max_concurrent_runs`. The queue
lives in the store, so it survives a restart and is shared by every replica of a
shared store.

`QueueDrainer` claims queued runs whenever this engine has room, through
`RunStore.claim_queued(room, limits)` (highest priority first, oldest first within a
priority, definitions at their limit skipped: the store counts them across replicas),
and hands the claims to `Engine.start_queued`. It wakes when a run is queued here, when
a run ends here (a slot frees), when poked (another replica queued a run or freed a
slot: the store's queue listener), and every `refresh_s` in any case, so a lost hint
only delays a run.

`waiting` is the drainer's estimate of the queue's depth: counted up by the runs queued
here, down by its claims, and read again from `RunStore.queue_depth()` at most every
`refresh_s` (or when poked), so a Start never counts the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import AuraError, ResourceExhausted
from orchestrator.store import Claim, RunStore

log = logging.getLogger(__name__)

#: StartWorkflowRunRequest.priority bounds: higher is claimed first.
MIN_PRIORITY = -100
MAX_PRIORITY = 100
#: ErrorInfo reason of a Start refused because the queue is full.
QUEUE_FULL_REASON = "QUEUE_FULL"
#: What a client refused because the queue is full is told to wait.
QUEUE_FULL_RETRY_AFTER_S = 1.0
#: The most runs one claim takes (an engine without a run cap claims in such batches).
MAX_CLAIM = 256
#: How often the drainer reads the queue depth and looks for claimable runs, hint or not.
REFRESH_S = 1.0
#: At most this often a Start at the bound reads the real depth.
DEPTH_RECHECK_S = 0.1
_FAILED_PASS_PAUSE_S = 0.5


def queued_run_start(created: run_pb2.RunEvent) -> tuple[float, run_pb2.RunStarted]:
    """For a run leaving the queue: its timeout (seconds, counted from now) and the
    `run_started` event that records its deadline. The timeout is the one it was created
    with (RunCreated.expire_time - its creation time): time spent queued does not count."""
    timeout_ns = max(
        0, created.run_created.expire_time.ToNanoseconds() - created.time.ToNanoseconds()
    )
    started = run_pb2.RunStarted()
    started.expire_time.FromNanoseconds(time.time_ns() + timeout_ns)
    return timeout_ns / 1e9, started


def queue_full(waiting: int, bound: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the run queue is full ({waiting} runs waiting, the most it holds is {bound}); "
        f"retry in {QUEUE_FULL_RETRY_AFTER_S:g}s",
        reason=QUEUE_FULL_REASON,
        metadata={"max_queued_runs": str(bound)},
        retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
    )


class QueueDrainer:
    """Claims queued runs while the engine has room. `start()` / idempotent `stop()`.

    `free_slots`: runs the engine could start now. `limits`: definition ->
    max_concurrent_runs, for the definitions that have one. `launch`: starts claimed
    runs (`Engine.start_queued`).
    """

    def __init__(
        self,
        store: RunStore,
        *,
        free_slots: Callable[[], int],
        limits: Callable[[], Mapping[str, int]],
        launch: Callable[[Sequence[Claim]], Awaitable[object]],
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._store = store
        self._free_slots = free_slots
        self._limits = limits
        self._launch = launch
        self._refresh_s = refresh_s
        self.waiting = 0
        """Estimated queue depth (see the module docstring)."""
        self.reserved = 0
        """Slots held by a claim in progress and the runs it is starting."""
        self._wake = asyncio.Event()
        self._hinted = False
        # The last claim came back short while runs still wait: they wait for a limited
        # definition's slot, which only a run of a limited definition frees.
        self._starved = False
        self._refreshed_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self.stopped = False

    async def start(self) -> None:
        if self._task is not None or self.stopped:
            return
        await self._refresh()
        self._task = asyncio.create_task(self._run(), name="run-queue-drainer")
        self._wake.set()

    async def stop(self) -> None:
        """Stops claiming; claims already taken stay PENDING and resume on the next start."""
        self.stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- what wakes it --------------------------------------------------------

    @property
    def held_by_limits(self) -> bool:
        """Every waiting run is held back by its definition's concurrency limit (as the
        last claim found): a newcomer that has room may start at once, overtaking no one."""
        return self._starved

    def poke(self) -> None:
        """Something changed elsewhere (another replica queued a run or freed a slot)."""
        self._hinted = True
        self._wake.set()

    def queued(self) -> None:
        """A run was queued here."""
        self.waiting += 1
        self._starved = False  # it may be claimable even if the runs before it are not
        self._wake.set()

    def slot_freed(self, *, limited: bool) -> None:
        """A run ended here; `limited`: its definition has max_concurrent_runs."""
        if self.waiting > 0 and (limited or not self._starved):
            self._wake.set()

    async def depth(self) -> int:
        """The estimate, read again from the store if older than `DEPTH_RECHECK_S`: for
        a Start at the bound, so a full queue costs one count per interval, not per Start."""
        if time.monotonic() - self._refreshed_at >= DEPTH_RECHECK_S:
            await self._refresh()
        return self.waiting

    # --- the loop ---------------------------------------------------------------

    async def _refresh(self) -> None:
        self._refreshed_at = time.monotonic()
        self.waiting = await self._store.queue_depth()

    async def _run(self) -> None:
        while not self.stopped:
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that arrives
            # as the event is set (the loop then went on for ever and stop() never returned).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._refresh_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._pass()
            except AuraError as error:  # the store cannot write now, say: no traceback
                log.warning("claiming queued runs failed (%s); retrying", error)
                await asyncio.sleep(_FAILED_PASS_PAUSE_S)
            except Exception:
                log.exception("claiming queued runs failed; retrying")
                await asyncio.sleep(_FAILED_PASS_PAUSE_S)

    async def _pass(self) -> None:
        hinted, self._hinted = self._hinted, False
        if hinted or time.monotonic() - self._refreshed_at >= self._refresh_s:
            await self._refresh()
            self._starved = False
        while self.waiting > 0:
            room = min(self._free_slots(), MAX_CLAIM)
            if room <= 0:
                return
            self.reserved = room
            try:
                claims = await self._store.claim_queued(room, self._limits())
                self.reserved = len(claims)
                self.waiting = max(0, self.waiting - len(claims))
                self._starved = len(claims) < room and self.waiting > 0
                if claims:
                    await self._launch(claims)
            finally:
                self.reserved = 0
            if len(claims) < room:
                return
