"""Python's cyclic garbage collector, paced for a process that holds thousands of runs.

CPython collects its oldest generation whenever that generation has grown by a quarter
since the last full collection. A full collection walks every tracked object with the
event loop stopped: with 10,000 runs in flight (about 200 tracked objects each, most of
them grpc.aio's and asyncio's) one took 1.2 s here, and while the runs were being started
it came 16 times, each watcher getting its events that much late. Those collections found
0 to 55 unreachable objects each: a run's objects are freed by reference counting, and
the cycles it makes die young, where the young generations still collect them.

So, in the serving process: what is alive once the process has started (modules,
descriptors, compiled plans) is frozen, never walked again; the oldest generation is
collected on a clock, every AURA_GC_FULL_INTERVAL_S, instead of on growth; and the
youngest every 50,000 allocations instead of 700, so most of a run's short-lived objects
are freed by reference counting before a collection ever walks them (at c=100 about 3%
less CPU per run: `benchmarks/README.md`, "Garbage collection"). The cost: a
cycle that outlives two young collections is freed up to that interval late. 0 keeps
CPython's own policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time

log = logging.getLogger(__name__)

# gen2's threshold counts young collections since the last full one: never reached.
NO_AUTOMATIC_FULL_COLLECTION = 2**30
# Allocations (minus deallocations) between collections of the youngest generation.
YOUNG_THRESHOLD = 50_000


class GcPacer:
    """`start` in the running loop once the process has started; `stop` puts CPython's
    policy back (and unfreezes)."""

    def __init__(self, full_interval_s: float) -> None:
        self.full_interval_s = full_interval_s
        self.full_collections = 0
        self._task: asyncio.Task[None] | None = None
        self._saved: tuple[int, int, int] | None = None

    @property
    def active(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self.full_interval_s <= 0 or self._task is not None:
            return
        gc.collect()  # start-up garbage goes before the rest is frozen
        gc.freeze()
        self._saved = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, self._saved[1], NO_AUTOMATIC_FULL_COLLECTION)
        self._task = asyncio.get_running_loop().create_task(
            self._collect_on_a_clock(), name="gc-full-collections"
        )
        log.debug(
            "full collections every %.0fs, %d objects frozen",
            self.full_interval_s,
            gc.get_freeze_count(),
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._saved is not None:
            gc.set_threshold(*self._saved)
        gc.unfreeze()

    async def _collect_on_a_clock(self) -> None:
        while True:
            await asyncio.sleep(self.full_interval_s)
            began = time.perf_counter()
            unreachable = gc.collect()
            self.full_collections += 1
            log.debug(
                "full collection: %d unreachable, %.1f ms",
                unreachable,
                (time.perf_counter() - began) * 1000,
            )
