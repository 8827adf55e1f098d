"""Service state across the cluster: every backend endpoint's breaker and health as
each replica sees it, kept current in Redis for ListServices / `aura services`.

One hash per prefix (`<prefix>service-state`): field "<replica> <service> <endpoint>",
value JSON {breaker, serving, updated_ms}. A replica calls `record` on every
transition (which also publishes a `service.state` event) and `refresh` with its whole
view every few seconds; `snapshot` leaves out (and deletes) what a replica has not
refreshed for `stale_after_s`, so a dead replica's view ages out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.bus.connection import BusConnection, redis_errors
from orchestrator.bus.model import BusEvent
from orchestrator.bus.publisher import EventPublisher
from orchestrator.bus.topics import service_state

#: A replica's view older than this is gone from the snapshot (3 missed refreshes at 5 s).
DEFAULT_STALE_AFTER_S = 15.0


@dataclass(frozen=True)
class EndpointState:
    replica: str
    service: str
    endpoint: str
    breaker: str
    """"closed", "half_open" or "open"."""
    serving: str
    """"SERVING", "NOT_SERVING" or "UNKNOWN"."""
    updated_ms: int = 0


class ServiceStateBoard:
    def __init__(
        self, connection: BusConnection, stale_after_s: float = DEFAULT_STALE_AFTER_S
    ) -> None:
        self._connection = connection
        self._key = f"{connection.settings.prefix}service-state"
        self._publisher = EventPublisher(connection)
        self._stale_after_s = stale_after_s

    @staticmethod
    def _field(state: EndpointState) -> str:
        return f"{state.replica} {state.service} {state.endpoint}"

    def _value(self, state: EndpointState, now_ms: int) -> str:
        return json.dumps(
            {"breaker": state.breaker, "serving": state.serving, "updated_ms": now_ms}
        )

    async def record(self, state: EndpointState) -> None:
        """A transition: the current state, and a `service.state` event for consumers."""
        now_ms = int(time.time() * 1000)
        async with redis_errors():
            await self._connection.commands.hset(
                self._key, self._field(state), self._value(state, now_ms)
            )
        event = service_state(
            state.replica,
            state.service,
            state.endpoint,
            state.breaker,
            state.serving,
            time.time_ns(),
        )
        await self._publisher.publish(
            BusEvent(event.topic, event.key, event.event_id, event.payload)
        )

    async def refresh(self, states: Iterable[EndpointState]) -> None:
        """A replica's whole current view (no events): keeps it from going stale."""
        now_ms = int(time.time() * 1000)
        mapping: dict[Any, Any] = {self._field(s): self._value(s, now_ms) for s in states}
        if mapping:
            async with redis_errors():
                await self._connection.commands.hset(self._key, mapping=mapping)

    async def snapshot(self) -> list[EndpointState]:
        """Every replica's current view, sorted by service, endpoint and replica."""
        async with redis_errors():
            entries: Any = await self._connection.commands.hgetall(self._key)
        oldest_ms = int((time.time() - self._stale_after_s) * 1000)
        fresh, stale = [], []
        for name, raw in entries.items():
            replica, service, endpoint = name.split(" ", 2)
            value = json.loads(raw)
            if value["updated_ms"] < oldest_ms:
                stale.append(name)
                continue
            fresh.append(
                EndpointState(
                    replica,
                    service,
                    endpoint,
                    value["breaker"],
                    value["serving"],
                    value["updated_ms"],
                )
            )
        if stale:
            async with redis_errors():
                await self._connection.commands.hdel(self._key, *stale)
        return sorted(fresh, key=lambda s: (s.service, s.endpoint, s.replica))
