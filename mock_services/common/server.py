"""One running mock server: its service, health, reflection, faults and call bookkeeping."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aura.transaction.v1.participant_pb2_grpc import add_ParticipantServiceServicer_to_server
from grpc_guard import UndecodableRequestInterceptor
from mock_services.common.faults import FaultConfig
from mock_services.common.health import DrainingHealthServicer
from mock_services.common.interceptor import (
    PARTICIPANT_SERVICE,
    FaultInjectionInterceptor,
    ServerState,
)
from mock_services.common.ledger import Ledger
from mock_services.common.participant import InDoubtResolver, ParticipantServicer
from mock_services.common.participant import data_dir as participant_data_dir
from mock_services.common.reflection import enable_reflection
from mock_services.common.tls import MockTls
from mock_services.common.tracing import server_interceptors
from mock_services.common.validation import ERROR_DOMAIN
from mock_services.registry import service_spec

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # above the 8 MiB image limit, so oversize gets a clear error
SERVER_OPTIONS = (
    # Without this, Linux lets a second server bind a busy port and silently share its traffic.
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class MockServer:
    """Handle of one running mock: where it listens, what it injects, what it has seen."""

    def __init__(
        self,
        name: str,
        faults: FaultConfig | None = None,
        data_dir: Path | None = None,
        tls: MockTls | None = None,
    ) -> None:
        spec = service_spec(name)
        self.tls = tls
        """With it, the mock serves mTLS (its own certificate, clients' from `ca.crt`)."""
        self.name: str = spec.name
        self.service_name: str = spec.service_name
        self.address: str = ""
        self.port: int = 0
        self._state = ServerState(spec.service_name, faults or FaultConfig())
        self._health = DrainingHealthServicer()
        self._serving = True
        self._server = grpc.aio.server(
            interceptors=[
                *server_interceptors(),
                UndecodableRequestInterceptor(ERROR_DOMAIN),
                FaultInjectionInterceptor(self._state),
            ],
            options=SERVER_OPTIONS,
        )
        self.data_dir: Path = participant_data_dir() if data_dir is None else data_dir
        self.ledger: Ledger | None = spec.add_to_server(self._server, self.data_dir)
        """The durable state of a service that takes part in transactions."""
        self.in_doubt: InDoubtResolver | None = None
        services = [spec.service_name]
        if self.ledger is not None:
            add_ParticipantServiceServicer_to_server(ParticipantServicer(self.ledger), self._server)
            self.in_doubt = InDoubtResolver(self.ledger)
            services.append(PARTICIPANT_SERVICE)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        health_service = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        enable_reflection(self._server, (*services, health_service))
        self._background: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Task[None] | None = None

    # Runtime state, delegated to what the interceptor updates.
    @property
    def faults(self) -> FaultConfig:
        return self._state.faults

    @faults.setter
    def faults(self, faults: FaultConfig) -> None:
        self._state.faults = faults

    @property
    def calls(self) -> collections.Counter[str]:
        """Method name (e.g. "AnalyzeText") -> calls received, failed ones included."""
        return self._state.calls

    @property
    def cancelled(self) -> collections.Counter[str]:
        """Method name -> calls that ended by client cancellation or deadline while in progress."""
        return self._state.cancelled

    @property
    def in_flight(self) -> int:
        return self._state.in_flight

    @property
    def last_idempotency_key(self) -> str | None:
        """The `aura-idempotency-key` metadata of the latest call that carried one."""
        return self._state.last_idempotency_key

    @property
    def last_metadata(self) -> dict[str, str]:
        return self._state.last_metadata

    @property
    def last_time_remaining_s(self) -> float | None:
        """Deadline budget the latest call arrived with; None when it had no deadline."""
        return self._state.last_time_remaining_s

    @property
    def serving(self) -> bool:
        return self._serving and self._stopping is None

    def reset_counters(self) -> None:
        self._state.calls.clear()
        self._state.cancelled.clear()
        self._state.last_idempotency_key = None

    async def set_serving(self, serving: bool) -> None:
        """Sets what health reports for "" and for the service; calls are answered either way."""
        self._serving = serving
        status = SERVING if serving else NOT_SERVING
        for service in ("", self.service_name):
            await self._health.set(service, status)

    async def start(self, address: str = "127.0.0.1:0") -> MockServer:
        host = address.rsplit(":", 1)[0]
        try:
            if self.tls is None:
                self.port = self._server.add_insecure_port(address)
            else:
                credentials = self.tls.server_credentials(self.name)
                self.port = self._server.add_secure_port(address, credentials)
        except RuntimeError as error:
            raise OSError(f"mock {self.name}: cannot listen on {address}: {error}") from error
        if not self.port:
            raise OSError(f"mock {self.name}: cannot listen on {address}")
        self.address = f"{host}:{self.port}"
        faults = self._state.faults
        await self.set_serving(not faults.not_serving and faults.slow_start_s <= 0)
        await self._server.start()
        if self.in_doubt is not None:
            self.in_doubt.start()
        if faults.slow_start_s > 0:
            self._state.ready_at = time.monotonic() + faults.slow_start_s
            self._background.append(asyncio.create_task(self._finish_slow_start(faults)))
        if faults.health_flap_s > 0:
            self._background.append(asyncio.create_task(self._flap(faults.health_flap_s)))
        log.info(
            "mock %s (%s) listening on %s%s",
            self.name,
            self.service_name,
            self.address,
            " (mTLS)" if self.tls is not None else "",
        )
        return self

    async def _finish_slow_start(self, faults: FaultConfig) -> None:
        await asyncio.sleep(faults.slow_start_s)
        await self.set_serving(not faults.not_serving)
        log.info("mock %s finished its slow start", self.name)

    async def _flap(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self.set_serving(not self._serving)

    async def stop(self, grace_s: float = 1.0) -> None:
        """Health flips to NOT_SERVING first, then in-flight calls get `grace_s` to finish.

        Health Watch streams end as soon as they have delivered NOT_SERVING.
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._shutdown(grace_s))
        await asyncio.shield(self._stopping)

    async def _shutdown(self, grace_s: float) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._health.enter_graceful_shutdown()
        await self._health.end_watches()
        await self._server.stop(grace_s)
        if self.in_doubt is not None:
            await self.in_doubt.stop()
        if self.ledger is not None:
            self.ledger.close()
        log.info("mock %s stopped", self.name)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()

    async def __aenter__(self) -> MockServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def start_mock_server(
    name: str,
    address: str = "127.0.0.1:0",
    faults: FaultConfig | None = None,
    data_dir: Path | None = None,
    tls: MockTls | None = None,
) -> MockServer:
    """Starts one mock ("image", "nlu", "style", "combination" or "recommendation").
    `data_dir`: where a participating mock keeps its SQLite file (`<name>.db`); default
    AURA_MOCK_DATA_DIR, or a new temporary directory. `tls`: serve mTLS (see `tls`)."""
    return await MockServer(name, faults, data_dir, tls).start(address)
