"""The orchestrator process: store, mesh, engine and the gRPC server, with an explicit lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aura.events.v1 import events_pb2, events_pb2_grpc
from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from grpc_guard import UndecodableRequestInterceptor
from orchestrator.analytics import AnalyticsRecorder
from orchestrator.api import (
    AuthInterceptor,
    ErrorStatusInterceptor,
    EventServicer,
    OrchestratorServicer,
)
from orchestrator.bus import BusMetrics, BusSettings, EventBus
from orchestrator.cluster import ReplicaCoordinator
from orchestrator.config import Settings
from orchestrator.drain import DrainingHealthServicer
from orchestrator.engine import DefinitionCatalog, Engine
from orchestrator.errors import ERROR_DOMAIN
from orchestrator.events import EventHub, RemoteEventFeed
from orchestrator.mesh import BackendPool, MeshTlsFiles
from orchestrator.resilience import ResponseCache
from orchestrator.security import TokenVerifier, server_credentials
from orchestrator.server_bus import BusSide
from orchestrator.store import PostgresRunStore, SqliteRunStore
from orchestrator.telemetry import (
    MetricsEndpoint,
    RunEventLog,
    RunMetrics,
    TelemetrySettings,
    grpc_server_interceptors,
)
from orchestrator.workflows import MethodRegistry

log = logging.getLogger(__name__)

# How often a drain looks for runs launched by calls that were already in progress.
LATE_RUN_POLL_S = 0.05
SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
EVENT_SERVICE_NAME = events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name


class OrchestratorServer:
    """`start()` then `stop(grace)`; or `async with`. `port` is known after start.

    `telemetry` defaults to `settings.telemetry`; a bare `TelemetrySettings()` keeps
    metrics in memory with no HTTP endpoint. `bus_settings`: the bus's key prefix and
    bounds when `settings.redis_url` is set (default: BusSettings()).
    """

    def __init__(
        self,
        settings: Settings,
        telemetry: TelemetrySettings | None = None,
        *,
        bus_settings: BusSettings | None = None,
    ) -> None:
        self.settings = settings
        self.telemetry: TelemetrySettings = telemetry or settings.telemetry
        self.metrics = RunMetrics()
        self._metrics_endpoint: MetricsEndpoint | None = None
        self.store: SqliteRunStore | PostgresRunStore = _run_store(settings)
        # Several replicas share a PostgreSQL store: heartbeats, takeover, cross-talk.
        self.coordinator: ReplicaCoordinator | None = None
        self.hub = EventHub()
        self.analytics = AnalyticsRecorder()
        self.pool = BackendPool(
            settings.service_addresses,
            policy_for=settings.policy_for,
            on_breaker_transition=self.analytics.observe_breaker,
            tls=MeshTlsFiles.from_paths(
                settings.mesh_tls_ca, settings.mesh_tls_cert, settings.mesh_tls_key
            ),
        )
        self.pool.add_breaker_listener(self.metrics.observe_breaker)
        self.catalog = DefinitionCatalog(self.store, MethodRegistry.default())
        self.engine = Engine(
            self.store,
            self.pool,
            self.catalog,
            max_active_runs=settings.max_active_runs,
            max_queued_runs=settings.max_queued_runs,
            response_cache=ResponseCache(settings.response_cache_max_entries),
        )
        # The event bus (AURA_REDIS_URL): EventService, the outbox relay, triggers.
        self.bus: EventBus | None = None
        if settings.redis_url:
            self.bus = EventBus.from_url(
                settings.redis_url, bus_settings, metrics=BusMetrics(self.metrics.registry)
            )
        self.events = EventServicer(self.bus)
        self.bus_side: BusSide | None = None
        self.health = DrainingHealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = 0
        # The health-only plaintext port, once started (AURA_HEALTH_PORT).
        self.health_port: int | None = None
        self._health_server: grpc.aio.Server | None = None
        self._stopped = asyncio.Event()
        self._stopping = False

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.port}"

    @property
    def metrics_port(self) -> int | None:
        """Port of the /metrics endpoint once started; None when it is off."""
        return self._metrics_endpoint.port if self._metrics_endpoint is not None else None

    def _listen(self, server: grpc.aio.Server) -> int:
        settings = self.settings
        if not settings.tls_cert:
            return int(server.add_insecure_port(settings.address))
        try:
            credentials = server_credentials(
                Path(settings.tls_cert),
                Path(settings.tls_key),
                Path(settings.tls_client_ca) if settings.tls_client_ca else None,
            )
        except OSError as error:
            raise RuntimeError(f"TLS: cannot read {error.filename}: {error.strerror}") from error
        return int(server.add_secure_port(settings.address, credentials))

    def _auth(self) -> list[AuthInterceptor]:
        settings = self.settings
        if not settings.auth_key_file:
            return []
        try:
            verifier = TokenVerifier(
                Path(settings.auth_key_file),
                issuer=settings.auth_issuer,
                audience=settings.auth_audience,
            )
        except ValueError as error:
            raise RuntimeError(f"AURA_AUTH_KEY_FILE: {error}") from error
        return [AuthInterceptor(verifier)]

    async def start(self) -> OrchestratorServer:
        await self.store.open()  # makes the data directory, or says why it cannot
        self.store.add_commit_listener(self.hub.publish)
        self.store.add_commit_listener(self.metrics.observe)
        self.store.add_commit_listener(RunEventLog().observe)
        self.metrics.bind_gauges(
            runs_in_flight=lambda: self.engine.active_run_count,
            runs_queued=lambda: self.engine.queued_run_count,
            replica_id=self.store.replica_id,
            subscribers=self.hub.subscriber_count,
            subscriber_lag=self.hub.slowest_backlog,
        )
        if self.telemetry.metrics_port is not None:
            self._metrics_endpoint = MetricsEndpoint(
                self.metrics.registry, self.telemetry.metrics_host, self.telemetry.metrics_port
            ).start()
        await self.catalog.load()
        await self.pool.start()
        server = grpc.aio.server(
            # Outermost first: the span covers the call; the caller is authenticated and
            # authorized before anything else; undecodable bytes never reach a handler;
            # whatever a handler raises becomes its status.
            interceptors=[
                *grpc_server_interceptors(),
                *self._auth(),
                UndecodableRequestInterceptor(ERROR_DOMAIN),
                ErrorStatusInterceptor(),
            ],
            options=(("grpc.so_reuseport", 0),),
        )
        orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(
            OrchestratorServicer(
                self.engine,
                self.hub,
                self.pool,
                self.analytics,
                self.bus.services if self.bus is not None else None,
            ),
            server,
        )
        events_pb2_grpc.add_EventServiceServicer_to_server(self.events, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                EVENT_SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        self.port = self._listen(server)
        if self.port == 0:
            raise RuntimeError(f"cannot listen on {self.settings.address}")
        self.engine.coordinator_address = self.address  # where in-doubt participants ask
        if isinstance(self.store, PostgresRunStore):
            # Alive (a first heartbeat) before the first run is created here, or others
            # would take it for an orphan.
            await self._join_cluster(self.store)
        await server.start()
        self._server = server
        await self._start_health_port()
        resumed = await self.engine.resume_unfinished(on_history=self.metrics.adopt)
        if resumed:
            log.info("resumed %d unfinished runs", len(resumed))
        # After the resume, so no claimed run is also resumed; metrics learn each claimed
        # run's history as they learn a resumed one's (it may predate this process).
        await self.engine.start_queue(on_history=self.metrics.adopt)
        if self.bus is not None:
            self.bus_side = BusSide(self.bus, self.store, self.engine, self.catalog, self.pool)
            await self.bus_side.start()
        for service in ("", SERVICE_NAME, EVENT_SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        # Readiness follows the store: NOT_SERVING while it cannot write (liveness stays).
        readiness_updates: set[asyncio.Task[None]] = set()

        def follow_store(writable: bool) -> None:
            status = health_pb2.HealthCheckResponse.SERVING
            if not writable:
                status = health_pb2.HealthCheckResponse.NOT_SERVING
            update = asyncio.create_task(self.health.set(SERVICE_NAME, status))
            readiness_updates.add(update)
            update.add_done_callback(readiness_updates.discard)

        self.store.add_writable_listener(follow_store)
        if not self.store.writable:
            follow_store(False)
        log.info("orchestrator serving on %s", self.address)
        return self

    async def _start_health_port(self) -> None:
        """The plaintext health-only port (AURA_HEALTH_PORT): the same health servicer, so
        it drains and follows the store as the main port's health does."""
        if self.settings.health_port is None:
            return
        server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        address = f"{self.settings.host}:{self.settings.health_port}"
        self.health_port = int(server.add_insecure_port(address))
        if self.health_port == 0:
            raise RuntimeError(f"cannot listen on {address}")
        await server.start()
        self._health_server = server

    async def _join_cluster(self, store: PostgresRunStore) -> None:
        """Heartbeats, takes over dead replicas' runs, hears other replicas' cancels and
        commits (for watchers here)."""
        store.address = self.address
        self.engine.attach_hub(self.hub)
        feed = RemoteEventFeed(
            store, self.hub, executes_here=self.engine.is_active, last_seqs=store.last_seqs
        )
        self.coordinator = ReplicaCoordinator(
            store,
            self.engine,
            feed=feed,
            on_history=self.metrics.adopt,
            # Another replica queued a run or freed a slot, and once a tick in any case.
            poke_queue=self.engine.queue.poke,
        )
        await self.coordinator.start()
        log.info("replica %s joined the cluster (lease %.1fs)", store.replica_id, store.lease_s)

    async def _leave_cluster(self, coordinator: ReplicaCoordinator) -> None:
        """Our runs stopped: the other replicas take them over now, not after a lease."""
        await coordinator.stop()
        try:
            await coordinator.store.retire()
        except Exception as error:  # then they wait for the lease
            log.warning("could not hand this replica's runs over at once: %s", error)

    async def stop(self, grace_s: float | None = None, *, delay_s: float | None = None) -> None:
        """A drain a load balancer can follow; unfinished runs stay resumable. Idempotent.

        1. Both health names ("" and the service) turn NOT_SERVING at once. For `delay_s`
           (AURA_SHUTDOWN_DELAY_S) the port keeps accepting and calls are served, so
           probes and balancers see NOT_SERVING, not "connection refused", and move away.
        2. Then new calls are refused; runs stop where they are (they resume on the next
           start); open Watch, Stream and Execute calls and health Watches end with
           UNAVAILABLE, reason SHUTTING_DOWN and RetryInfo.
        3. Returns as soon as no call is left, at the latest after `grace_s`
           (AURA_SHUTDOWN_GRACE_S), when the calls still open are cancelled.
        """
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        delay = self.settings.shutdown_delay_s if delay_s is None else delay_s
        try:
            await self.health.enter_graceful_shutdown()
            if self.coordinator is not None:
                self.coordinator.stop_claiming()  # takes over nothing more
            self.store.stop_holding_writes()  # nothing may wait on a store that cannot write
            if self._server is not None:
                if delay > 0:
                    log.info("NOT_SERVING; still accepting calls for %.1fs", delay)
                    await asyncio.sleep(delay)
                await self._drain_calls(self._server, grace)
            if self._health_server is not None:
                await self._health_server.stop(0)
            await self.pool.stop()
            if self.bus_side is not None:
                await self.bus_side.stop()  # pending entries stay for the next relay
            if self.coordinator is not None:
                await self._leave_cluster(self.coordinator)
            await self.store.close()
            if self.bus is not None:
                await self.bus.close()
        finally:
            if self._metrics_endpoint is not None:
                self._metrics_endpoint.stop()
            self._stopped.set()

    async def _drain_calls(self, server: grpc.aio.Server, grace_s: float) -> None:
        """Refuses new calls, ends the ones waiting on runs, waits for the rest (<= grace)."""
        stop_server = asyncio.create_task(server.stop(grace_s))
        # Streams and Execute calls wait on runs: stop the runs (their last events commit
        # and reach the watchers), then end every live tail and health Watch.
        await self.engine.stop()
        self.hub.shut_down()
        self.events.shut_down()
        self.health.end_watches()
        # A Start already past validation when the drain began launches its run
        # late; stop those too, so their callers get UNAVAILABLE before the grace ends.
        while not stop_server.done():
            await asyncio.wait({stop_server}, timeout=LATE_RUN_POLL_S)
            await self.engine.stop()
        await stop_server

    async def wait_for_termination(self) -> None:
        await self._stopped.wait()

    async def __aenter__(self) -> OrchestratorServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _run_store(settings: Settings) -> SqliteRunStore | PostgresRunStore:
    """SQLite under the data directory, or PostgreSQL when AURA_STORE_URL names one."""
    if settings.store_url:  # a postgresql:// URL (the setting admits no other)
        return PostgresRunStore(
            settings.store_url,
            replica_id=settings.replica_id or default_replica_id(),
            lease_s=settings.replica_lease_s,
            durability=settings.durability,
            linger_s=settings.store_linger_ms / 1000,
            retention_s=settings.run_retention_s,
            outbox=bool(settings.redis_url),
        )
    return SqliteRunStore(
        settings.database_path,
        durability=settings.durability,
        linger_s=settings.store_linger_ms / 1000,
        retention_s=settings.run_retention_s,
        outbox=bool(settings.redis_url),
    )


def default_replica_id() -> str:
    """hostname-pid-random: unique per process, readable in ListServices and logs."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
