"""Bulkhead: a cap on the calls in flight to one service; more calls wait for a slot.

Waiting is bounded by the caller's timeout, so a full bulkhead delays a step
within its deadline budget rather than growing an unbounded pile of calls on
a slow backend.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        self._slots = asyncio.Semaphore(max_in_flight)

    @contextlib.asynccontextmanager
    async def slot(self, timeout_s: float) -> AsyncIterator[None]:
        """Holds one slot for the body; raises BulkheadFull if none frees within timeout_s."""
        if self._slots.locked():
            if timeout_s <= 0:
                raise BulkheadFull(f"{self.max_in_flight} calls in flight")
            try:
                await asyncio.wait_for(self._slots.acquire(), timeout=timeout_s)
            except TimeoutError:
                raise BulkheadFull(f"{self.max_in_flight} calls in flight") from None
        else:
            await self._slots.acquire()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
