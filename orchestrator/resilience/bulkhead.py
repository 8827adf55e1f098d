"""Bulkhead: a cap on the calls in flight to one service; more calls wait for a slot.

Waiting is bounded by the caller's timeout, so a full bulkhead delays a step
within its deadline budget rather than growing an unbounded pile of calls on
a slow backend. Waiters are served first come, first served: a freed slot is
handed straight to the oldest waiter. Taking a free slot does not suspend the
caller (every backend call passes here, so the common case must be cheap).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class BulkheadFull(Exception):
    """No slot freed up within the timeout."""


class Bulkhead:
    def __init__(self, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.peak_in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout_s: float) -> None:
        """Takes one slot; raises BulkheadFull if none frees within timeout_s.

        Every successful acquire must be matched by one `release`.
        """
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            if self.in_flight > self.peak_in_flight:
                self.peak_in_flight = self.in_flight
            return
        if timeout_s <= 0:
            raise BulkheadFull(f"{self.max_in_flight} calls in flight")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await waiter  # release() hands its slot over: in_flight already counts it
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                self.release()  # a slot arrived just as we gave up: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise BulkheadFull(f"{self.max_in_flight} calls in flight") from None
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1

    @contextlib.asynccontextmanager
    async def slot(self, timeout_s: float) -> AsyncIterator[None]:
        """Holds one slot for the body (see `acquire`)."""
        await self.acquire(timeout_s)
        try:
            yield
        finally:
            self.release()
