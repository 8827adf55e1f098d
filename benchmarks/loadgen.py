"""Closed-loop load: `concurrency` workers each run one workflow after another."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float  # measured window
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    results: list[Any] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.latencies_s)

    @property
    def runs_per_s(self) -> float:
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    def p(self, q: float) -> float | None:
        value = percentile(self.latencies_s, q)
        return None if value is None else value * 1000  # ms


async def closed_loop(
    call: Callable[[], Awaitable[Any]],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    keep_results: bool = False,
    max_runs: int | None = None,
) -> LoadResult:
    """Runs `call` back to back on `concurrency` workers for warmup + duration seconds.

    Calls that finish inside the measured window count (latency sample and completion);
    runs/s is their number over the window. `max_runs` ends the window early.
    """
    loop_start = time.perf_counter()
    window_start = loop_start + warmup_s
    window_end = window_start + duration_s
    result = LoadResult(concurrency, duration_s)
    done = asyncio.Event()

    async def worker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            if started >= window_end:
                return
            try:
                value = await call()
            except Exception as error:
                if window_start <= time.perf_counter() <= window_end:
                    result.errors += 1
                    result.first_error = result.first_error or repr(error)[:300]
                continue
            finished = time.perf_counter()
            if window_start <= finished <= window_end and not done.is_set():
                result.latencies_s.append(finished - started)
                if keep_results:
                    result.results.append(value)
                if max_runs is not None and result.completed >= max_runs:
                    result.duration_s = finished - window_start
                    done.set()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result
