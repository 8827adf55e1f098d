"""This replica's view of the backends, kept on the cluster's board and turned into events.

Every `interval_s` (and at once when `poke`d, e.g. by a breaker listener) the feed reads
the view (`view()`: one EndpointState per endpoint, as this replica sees it). Endpoints
whose breaker or health changed since the last look are written to the board and become
`service.state` entries of the store's outbox (`record`: one small write job, so a
transition survives a crash like a run event); a breaker that opened also gives an
`alert.breaker_open`. The whole view is refreshed on the board every `refresh_s`, so
it never goes stale while the replica lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from orchestrator.bus.service_board import EndpointState, ServiceStateBoard
from orchestrator.store import ALERT_PREFIX, TopicEvent, service_state

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0
DEFAULT_REFRESH_S = 5.0
BREAKER_OPEN_ALERT = f"{ALERT_PREFIX}breaker_open"

RecordEvents = Callable[[Sequence[TopicEvent]], Awaitable[None]]


def breaker_open_alert(state: EndpointState, seq: int) -> TopicEvent:
    return TopicEvent(
        BREAKER_OPEN_ALERT,
        state.service,
        f"alert-breaker-open:{state.replica}:{state.endpoint}:{seq}",
        {
            "severity": "warning",
            "summary": f"circuit breaker of {state.service} at {state.endpoint} opened",
            "details": {
                "replica": state.replica,
                "service": state.service,
                "endpoint": state.endpoint,
                "serving": state.serving,
            },
        },
    )


def transition_events(
    changed: Sequence[tuple[EndpointState, str | None]], seq: int
) -> list[TopicEvent]:
    """(state, previous breaker or None) -> service.state events, and breaker-open alerts."""
    events: list[TopicEvent] = []
    for offset, (state, previous) in enumerate(changed):
        at = seq + offset
        events.append(
            service_state(
                state.replica, state.service, state.endpoint, state.breaker, state.serving, at
            )
        )
        if state.breaker == "open" and previous is not None and previous != "open":
            events.append(breaker_open_alert(state, at))
    return events


class ServiceStateFeed:
    def __init__(
        self,
        board: ServiceStateBoard,
        view: Callable[[], Sequence[EndpointState]],
        record: RecordEvents | None,
        *,
        on_recorded: Callable[[], None] = lambda: None,
        interval_s: float = DEFAULT_INTERVAL_S,
        refresh_s: float = DEFAULT_REFRESH_S,
    ) -> None:
        self._board = board
        self._view = view
        self._record = record
        self._on_recorded = on_recorded
        self._interval_s = interval_s
        self._refresh_s = refresh_s
        self._last: dict[tuple[str, str], tuple[str, str]] = {}
        self._refreshed = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Something changed (a breaker transition): look now."""
        self._wake.set()

    async def step(self) -> list[EndpointState]:
        """One look; the endpoints that changed."""
        states = list(self._view())
        changed: list[tuple[EndpointState, str | None]] = []
        for state in states:
            key = (state.service, state.endpoint)
            previous = self._last.get(key)
            if previous != (state.breaker, state.serving):
                changed.append((state, previous[0] if previous else None))
        if changed and self._record is not None:
            await self._record(transition_events(changed, time.time_ns()))
            self._on_recorded()
        now = time.monotonic()
        if now - self._refreshed >= self._refresh_s:
            await self._board.refresh(states)
            self._refreshed = now
        elif changed:
            await self._board.refresh([state for state, _ in changed])
        for state, _ in changed:  # only once recorded: a failed step is redone
            self._last[(state.service, state.endpoint)] = (state.breaker, state.serving)
        return [state for state, _ in changed]

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event bus: the service state feed failed a step (%s)", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):  # not wait_for (3.11)
                    await self._wake.wait()
            self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="service-state-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
