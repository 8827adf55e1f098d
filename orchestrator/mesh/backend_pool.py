"""Channels to the backend services and the one generic way to call them.

The engine calls any unary method it has a descriptor for: a new service needs
a proto and an address, not code. Channels are created once per address and
reused; channel-level retries are off because the engine retries per step
policy (stacking both would multiply attempts).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message

from orchestrator.errors import Unavailable
from orchestrator.mesh.backend_error import BackendCallError, status_from_aio_error
from orchestrator.mesh.health_watch import SERVING, HealthWatch
from orchestrator.mesh.latency_window import LatencyWindow

CHANNEL_OPTIONS: Sequence[tuple[str, Any]] = (
    ("grpc.enable_retries", 0),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
)


@dataclass
class Endpoint:
    address: str
    channel: grpc.aio.Channel
    health: HealthWatch

    @property
    def serving(self) -> bool:
        return bool(self.health.status == SERVING)


@dataclass
class ServiceStats:
    call_count: int = 0
    error_count: int = 0
    latency: LatencyWindow = field(default_factory=LatencyWindow)


class BackendPool:
    """Endpoints per full service name, round-robin over the serving ones."""

    def __init__(self, addresses: Mapping[str, Sequence[str]]) -> None:
        self._addresses = {service: list(addrs) for service, addrs in addresses.items()}
        self._endpoints: dict[str, list[Endpoint]] = {}
        self._cursor: dict[str, Iterator[int]] = {}
        self._callables: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[Any, Any]] = {}
        self.stats: dict[str, ServiceStats] = {}

    async def start(self) -> None:
        for service, addresses in self._addresses.items():
            endpoints = []
            for address in addresses:
                channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
                watch = HealthWatch(channel, service)
                watch.start()
                endpoints.append(Endpoint(address, channel, watch))
            self._endpoints[service] = endpoints
            self._cursor[service] = itertools.cycle(range(len(endpoints)))
            self.stats[service] = ServiceStats()

    async def stop(self) -> None:
        for endpoints in self._endpoints.values():
            for endpoint in endpoints:
                await endpoint.health.stop()
                await endpoint.channel.close()
        self._endpoints.clear()
        self._callables.clear()

    def endpoints(self, service: str) -> list[Endpoint]:
        return self._endpoints.get(service, [])

    def services(self) -> list[str]:
        return sorted(self._endpoints)

    def _pick(self, service: str) -> Endpoint:
        endpoints = self._endpoints.get(service)
        if not endpoints:
            raise Unavailable(
                f"no address configured for service {service}",
                reason="SERVICE_NOT_CONFIGURED",
                metadata={"service": service},
            )
        # Prefer an endpoint whose health stream says SERVING; if none does
        # (unknown yet, or all down), still try one so the call reports why.
        for _ in range(len(endpoints)):
            candidate = endpoints[next(self._cursor[service])]
            if candidate.serving:
                return candidate
        return endpoints[next(self._cursor[service])]

    async def invoke(
        self,
        *,
        service: str,
        path: str,
        request: Message,
        response_class: type[Message],
        timeout_s: float,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> Message:
        """Calls `path` on one endpoint of `service`; raises BackendCallError on failure."""
        endpoint = self._pick(service)
        key = (endpoint.address, path)
        call = self._callables.get(key)
        if call is None:
            call = endpoint.channel.unary_unary(
                path,
                request_serializer=_serialize,
                response_deserializer=response_class.FromString,
            )
            self._callables[key] = call
        stats = self.stats[service]
        stats.call_count += 1
        started = time.perf_counter()
        try:
            response: Message = await call(request, timeout=timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            stats.error_count += 1
            raise BackendCallError(
                status_from_aio_error(error), service=service, method=path
            ) from None
        stats.latency.add(time.perf_counter() - started)
        return response


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
