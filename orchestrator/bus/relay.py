"""The outbox relay: publishes the store's outbox entries to Redis, at least once.

Each step: check the epoch marker (a Redis key the relay sets; gone means Redis was
emptied or restarted, so the outbox reopens what it had confirmed), read up to
`batch` pending entries, publish them in one pipeline (idempotent on event_id), then
mark them confirmed. A crash anywhere repeats at most the last batch, which dedupe
absorbs; a Redis outage pauses the relay and it resumes where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from orchestrator.bus.alerts import (
    RELAY_LAG_ALERT_S,
    RELAY_LAG_EVERY_S,
    raise_alert,
    relay_lag_alert,
)
from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.metrics import BusMetrics
from orchestrator.bus.outbox import Outbox, event_of
from orchestrator.bus.publisher import EventPublisher
from orchestrator.errors import Unavailable

log = logging.getLogger(__name__)

DEFAULT_BATCH = 512
#: How often the relay looks at the outbox when nobody wakes it (`notify`).
DEFAULT_POLL_S = 0.05
ERROR_PAUSE_S = 0.5


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        connection: BusConnection,
        *,
        batch: int = DEFAULT_BATCH,
        poll_s: float = DEFAULT_POLL_S,
        metrics: BusMetrics | None = None,
    ) -> None:
        self._outbox = outbox
        self._connection = connection
        self._publisher = EventPublisher(connection)
        self._batch = batch
        self._poll_s = poll_s
        self._metrics = metrics or BusMetrics()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._epoch = uuid.uuid4().hex
        self._stopping = False
        self._next_lag_alert = 0.0

    def notify(self) -> None:
        """Called after a store commit that wrote outbox entries: publish now."""
        self._wake.set()

    async def _check_epoch(self) -> None:
        commands = self._connection.commands
        marker = self._connection.settings.relay_epoch()
        async with redis_errors():
            if await commands.exists(marker):
                return
        reopened = await self._outbox.reopen_confirmed()
        if reopened:
            log.warning("event bus: Redis was emptied; republishing %d outbox entries", reopened)
            self._metrics.relay_republished.inc(reopened)
        async with redis_errors():
            await commands.set(marker, self._epoch, nx=True)

    async def relay_once(self) -> int:
        """One step; how many entries were published (duplicates included)."""
        await self._check_epoch()
        entries = await self._outbox.pending(self._batch)
        if not entries:
            self._metrics.relay_lag.set(0)
            return 0
        lag_s = max(0.0, time.time() - entries[0].created_us / 1e6)
        self._metrics.relay_lag.set(lag_s)
        published = await self._publisher.publish_many([event_of(e) for e in entries])
        await self._outbox.mark_confirmed([e.id for e in entries])
        if lag_s >= RELAY_LAG_ALERT_S and time.monotonic() >= self._next_lag_alert:
            self._next_lag_alert = time.monotonic() + RELAY_LAG_EVERY_S
            await raise_alert(self._publisher, relay_lag_alert(lag_s, int(time.time() * 1000)))
        for outcome in published:
            if not outcome.duplicate:
                self._metrics.published.labels(outcome.event.topic).inc()
        return len(entries)

    async def drain(self) -> int:
        """Publishes until the outbox has nothing pending; how many were published."""
        total = 0
        while count := await self.relay_once():
            total += count
        return total

    async def run(self) -> None:
        while not self._stopping:
            try:
                count = await self.relay_once()
            except Unavailable:
                log.warning("event bus: Redis unreachable; the outbox relay waits")
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            except Exception:
                log.exception("event bus: the outbox relay failed a step")
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            if count < self._batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):  # not wait_for (3.11)
                        await self._wake.wait()
                self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
