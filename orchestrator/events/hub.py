"""In-process fan-out of committed run events to live watchers.

The store calls `EventHub.publish` (its commit listener) on the event loop after each
commit. Every subscriber of a run gets a reference to the same event objects, never a
copy, so they must treat them as read-only.

Back-pressure: `publish` never waits. Each subscription buffers references in a deque
and wakes its reader by resolving the one future the reader waits on (an
`asyncio.Event` would cost a second deque and a coroutine per watcher, which 10,000 open
streams pay in memory). A reader that falls `max_buffered`
events behind is marked lagging: its buffer is dropped and its next read raises
`SubscriptionLagged`. Nothing is lost by that, because every published event is already
durable: `watch_run` catches it, reads what it missed from the store and subscribes
again. So a stalled watcher costs bounded memory, and the publisher is never slowed.

Shutdown: `EventHub.shut_down` ends every subscription. A reader first gets what was
already delivered to it, then `HubShutDown`; later subscriptions are born ended. Nothing
is lost by that either: the events are durable, and a watcher reconnects with `after_seq`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from aura.orchestrator.v1 import run_pb2

DEFAULT_MAX_BUFFERED = 10_000


class SubscriptionLagged(Exception):
    """The subscriber fell too far behind; its buffered events were dropped."""


class HubShutDown(Exception):
    """The process is shutting down: no more live events for this subscription."""


class Subscription:
    """Live events of one run, as an async iterator for one reader. Close it (or use `with`)."""

    def __init__(self, hub: EventHub, run: str, max_buffered: int) -> None:
        self.run = run
        self._hub = hub
        self._max_buffered = max_buffered
        self._buffer: deque[run_pb2.RunEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._lagged = False
        self._closed = False
        self._shut_down = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        """Events delivered but not yet read."""
        return len(self._buffer)

    def push(self, event: run_pb2.RunEvent) -> None:
        """Called by the hub; never blocks."""
        if self._closed or self._lagged or self._shut_down:
            return
        if len(self._buffer) >= self._max_buffered:
            self._lagged = True
            self._buffer.clear()
        else:
            self._buffer.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Unsubscribes; a pending or later read ends the iteration. Idempotent."""
        if not self._closed:
            self._closed = True
            self._buffer.clear()
            self._hub.unsubscribe(self)
            self._wake()

    def shut_down(self) -> None:
        """Called by the hub: what is buffered is still read, then `HubShutDown`."""
        self._shut_down = True
        self._wake()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> run_pb2.RunEvent:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._closed:
                raise StopAsyncIteration
            if self._shut_down:
                raise HubShutDown(f"no more live events of {self.run}: shutting down")
            if self._lagged:
                raise SubscriptionLagged(f"watcher of {self.run} fell behind")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Routes committed events to the subscriptions of their run."""

    def __init__(self, *, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self._max_buffered = max_buffered
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._shut_down = False

    def publish(self, events: Sequence[run_pb2.RunEvent]) -> None:
        """Hands committed events to their runs' subscribers; call on the event loop."""
        subscriptions = self._subscriptions
        if not subscriptions:
            return
        for event in events:
            subscribers = subscriptions.get(event.run)
            if subscribers:
                for subscription in subscribers:
                    subscription.push(event)

    def subscribe(self, run: str) -> Subscription:
        subscription = Subscription(self, run, self._max_buffered)
        if self._shut_down:
            subscription.shut_down()
        else:
            self._subscriptions.setdefault(run, set()).add(subscription)
        return subscription

    def shut_down(self) -> None:
        """Ends every live subscription, now and later (see the module docstring). Idempotent."""
        self._shut_down = True
        for subscribers in list(self._subscriptions.values()):
            for subscription in list(subscribers):
                subscription.shut_down()

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.run)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[subscription.run]

    def subscribed_runs(self) -> list[str]:
        """Runs with at least one open subscription now."""
        return list(self._subscriptions)

    def slowest_backlog(self) -> int:
        """Events buffered for the slowest live watcher; 0 when nobody watches."""
        groups = list(self._subscriptions.values())
        return max((s.buffered for group in groups for s in list(group)), default=0)

    def subscriber_count(self, run: str | None = None) -> int:
        """Open subscriptions, of one run or of all."""
        if run is not None:
            return len(self._subscriptions.get(run, ()))
        return sum(len(subscribers) for subscribers in self._subscriptions.values())
