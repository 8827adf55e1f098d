"""`aura serve | up | demo`: the orchestrator, with the mock mesh beside it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from aura.orchestrator.v1 import run_pb2
from orchestrator.cli.cluster_up import plan_replicas, run_replicas
from orchestrator.cli.ports import split_address, taken_ports
from orchestrator.config import Settings
from orchestrator.envvars import redact_url
from orchestrator.gateway import ConsoleServer, parse_console_address
from orchestrator.gc_pacing import GcPacer
from orchestrator.mesh import MeshTlsFiles
from orchestrator.names import DEFAULT_SERVICES, RUN_PREFIX
from orchestrator.security import client_channel
from orchestrator.server import OrchestratorServer
from orchestrator.telemetry import TelemetrySettings, configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)

DEMO_MESH_ENV = {
    "AURA_MOCK_LATENCY_MS": "150",
    "AURA_MOCK_JITTER_MS": "250",
    "AURA_MOCK_LOG_LEVEL": "WARNING",
}
DEMO_INPUT = {
    "user_id": "demo-user",
    "image_uri": "https://example.com/photos/navy-blazer-white-shirt.jpg",
    "text": (
        "Looking for business casual outfits for an office meeting, in navy or grey, "
        "under 300 euros"
    ),
}


async def wait_serving(
    address: str,
    service: str = "",
    timeout_s: float = 20.0,
    channel_to: Callable[[str], grpc.aio.Channel] = client_channel,
) -> None:
    """Polls grpc.health.v1 Check until SERVING (over TLS when the client is configured for
    it; the mock services pass their channel, see `mesh_channels`)."""
    deadline = time.monotonic() + timeout_s
    async with channel_to(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=1.0
                )
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address} did not become SERVING within {timeout_s:.0f}s")
            await asyncio.sleep(0.1)


async def check_health(
    address: str, service: str, timeout_s: float, *, plaintext: bool = False
) -> int:
    """One grpc.health.v1 Check: 0 when SERVING, 1 otherwise (for probes and HEALTHCHECK).
    `plaintext`: the health-only port (AURA_HEALTH_PORT) speaks no TLS."""
    channel = grpc.aio.insecure_channel(address) if plaintext else client_channel(address)
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            print(f"{address}: {error.code().name} {error.details()}")
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{address} {service or '(liveness)'}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


def _stop_signal() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def mesh_addresses(settings: Settings) -> dict[str, str]:
    """Mock name -> the address the orchestrator will call it on (its first replica)."""
    return {
        short: settings.service_addresses[service][0]
        for service, (short, _) in DEFAULT_SERVICES.items()
        if settings.service_addresses.get(service)
    }


def ensure_ports_free(
    settings: Settings, telemetry: TelemetrySettings, *, mesh: bool, console: bool = False
) -> None:
    """Fails at once, naming the port and who holds it, instead of a bind error in a child's log."""
    wanted = [(settings.host, settings.port, "the orchestrator, AURA_PORT")]
    if telemetry.metrics_port:
        wanted.append(
            (telemetry.metrics_host, telemetry.metrics_port, "metrics, AURA_METRICS_PORT")
        )
    if console and (console_at := console_host_port(settings)) is not None:
        wanted.append((*console_at, "the console, AURA_CONSOLE_ADDRESS"))
    if mesh:
        for short, address in mesh_addresses(settings).items():
            if (host_port := split_address(address)) is not None:
                variable = f"AURA_SERVICE_{short.upper()}_ADDRESSES"
                wanted.append((*host_port, f"the {short} mock service, {variable}"))
    problems = taken_ports(wanted)
    if problems:
        raise RuntimeError(
            "cannot start: " + "; ".join(problems) + ". Stop that process, or choose another "
            "port with the setting named (`aura config` shows them)."
        )


MOCK_TLS_DIR_ENV = "AURA_MOCK_TLS_DIR"


def mesh_tls_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The mocks' environment: with mesh TLS on, AURA_MOCK_TLS_DIR (default: the directory
    of AURA_MESH_TLS_CA, as `aura certs` lays it out); off, none (they serve plaintext)."""
    env = dict(env)
    if settings.mesh_tls_ca:
        env.setdefault(MOCK_TLS_DIR_ENV, str(Path(settings.mesh_tls_ca).parent))
    elif env.pop(MOCK_TLS_DIR_ENV, None):
        log.warning(
            "%s ignored: AURA_MESH_TLS_CA is not set, the mocks serve plaintext", MOCK_TLS_DIR_ENV
        )
    return env


def mesh_channels(settings: Settings) -> Callable[[str, str], grpc.aio.Channel]:
    """(mock name, address) -> a channel to it as the orchestrator opens one: mTLS checking
    the mock's identity when mesh TLS is on, plaintext otherwise."""
    files = MeshTlsFiles.from_paths(
        settings.mesh_tls_ca, settings.mesh_tls_cert, settings.mesh_tls_key
    )
    if files is None:
        return lambda name, address: grpc.aio.insecure_channel(address)
    tls = files.load()
    services = {short: service for service, (short, _) in DEFAULT_SERVICES.items()}
    return lambda name, address: tls.channel(address, services[name])


def console_host_port(settings: Settings) -> tuple[str, int] | None:
    """Where the console listens, or None when AURA_CONSOLE_ADDRESS is off."""
    return parse_console_address(settings.console_address)


@contextlib.asynccontextmanager
async def console_for(address: str, target: str) -> AsyncIterator[ConsoleServer | None]:
    """The web console and HTTP API on `address` (AURA_CONSOLE_ADDRESS) in front of the
    orchestrator at `target`, while the block runs; None when the address is off."""
    at = parse_console_address(address)
    if at is None:
        yield None
        return
    console = await ConsoleServer(*at, target).start()
    try:
        yield console
    finally:
        await console.stop()


async def _with_mesh(
    settings: Settings, body: Callable[[], Awaitable[int]], mesh_env: dict[str, str] | None = None
) -> int:
    """Starts the five mock services in a child process, on the addresses the orchestrator
    is configured with (mTLS with mesh TLS on), waits until each serves over the kind of
    channel the orchestrator will use, runs `body`, stops them."""
    env = mesh_tls_env(settings, {**os.environ, **(mesh_env or {})})
    channel_to = mesh_channels(settings)
    addresses = mesh_addresses(settings)
    listen = [f"{name}={address}" for name, address in addresses.items()]
    mesh = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_services.listen", *listen, env=env
    )
    try:
        serving = asyncio.ensure_future(
            asyncio.gather(
                *(
                    wait_serving(address, channel_to=functools.partial(channel_to, name))
                    for name, address in addresses.items()
                )
            )
        )
        exited = asyncio.ensure_future(mesh.wait())
        await asyncio.wait((serving, exited), return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            serving.cancel()
            raise RuntimeError(
                f"the mock services exited (status {mesh.returncode}) before serving"
            )
        exited.cancel()
        serving.result()
        return await body()
    finally:
        if mesh.returncode is None:
            mesh.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(mesh.wait(), timeout=10)
            except TimeoutError:
                mesh.kill()
                await mesh.wait()


def store_description(server: OrchestratorServer) -> str:
    """Where the runs are kept, for a start-up line (a URL without its password)."""
    settings = server.settings
    if not settings.store_url:
        return f"data in {settings.data_dir}"
    return f"replica {server.store.replica_id} on {redact_url(settings.store_url)}"


# Left after the drain for the store to close and the process to exit.
EXIT_MARGIN_S = 2.0


async def serve(
    settings: Settings, telemetry: TelemetrySettings | None = None, *, console: bool = False
) -> int:
    """Until SIGTERM/SIGINT; then the drain of `OrchestratorServer.stop`: NOT_SERVING while
    calls are still accepted for AURA_SHUTDOWN_DELAY_S, streams end with SHUTTING_DOWN,
    the process exits once no call is left (at the latest after AURA_SHUTDOWN_GRACE_S);
    unfinished runs stay in the store to resume on the next start."""
    telemetry = telemetry or TelemetrySettings.from_env()
    stop = _stop_signal()
    configure_tracing(telemetry)  # before any server or channel exists
    server = await OrchestratorServer(settings, telemetry).start()
    gc_pacer = GcPacer(settings.gc_full_interval_s)
    gc_pacer.start()  # the process's own policy, not OrchestratorServer's (tests run many)
    metrics = f", metrics on :{server.metrics_port}/metrics" if server.metrics_port else ""
    health = f", health on :{server.health_port}" if server.health_port else ""
    Console(stderr=True).print(
        f"orchestrator serving on {server.address} ({store_description(server)}{metrics}{health})"
    )
    async with console_for(settings.console_address if console else "", server.address) as web:
        if web is not None:
            Console(stderr=True).print(f"console and HTTP API on {web.url}/")
        await stop.wait()
    log.info(
        "stopping: NOT_SERVING for %.1fs, then draining calls for up to %.1fs",
        settings.shutdown_delay_s,
        settings.shutdown_grace_s,
    )
    budget_s = settings.shutdown_delay_s + settings.shutdown_grace_s + EXIT_MARGIN_S
    try:
        await asyncio.wait_for(server.stop(), timeout=budget_s)
    except TimeoutError:
        log.error("did not stop within the grace period; exiting (unfinished runs resume later)")
        return 1
    finally:
        await gc_pacer.stop()
        shutdown_tracing()
    log.info("stopped")
    return 0


async def up(
    settings: Settings, telemetry: TelemetrySettings | None = None, *, replicas: int = 1
) -> int:
    """The mesh and the orchestrator; with `replicas` > 1, that many `aura serve`
    processes on one shared store (see cluster_up)."""
    telemetry = telemetry or settings.telemetry
    if replicas == 1:
        ensure_ports_free(settings, telemetry, mesh=True, console=True)

        async def body() -> int:
            return await serve(settings, telemetry, console=True)

        return await _with_mesh(settings, body)
    plans = plan_replicas(settings, telemetry, replicas)
    for index, plan in enumerate(plans):
        port = settings.port + index
        metrics = None if telemetry.metrics_port is None else telemetry.metrics_port + index
        replica_settings = dataclasses.replace(settings, port=port)
        replica_telemetry = dataclasses.replace(telemetry, metrics_port=metrics)
        ensure_ports_free(replica_settings, replica_telemetry, mesh=index == 0, console=index == 0)
        log.debug("replica %s will listen on %s", plan.replica_id, plan.address)

    async def cluster() -> int:
        # One console, in front of the first replica (any replica answers for all of them).
        async with console_for(settings.console_address, plans[0].address) as web:
            if web is not None:
                Console(stderr=True).print(f"console and HTTP API on {web.url}/")
            return await run_replicas(settings, plans, _stop_signal(), wait_serving)

    return await _with_mesh(settings, cluster)


async def demo(settings: Settings, telemetry: TelemetrySettings | None = None) -> int:
    """The whole mesh plus one complete_style_analysis run with live progress."""
    from orchestrator.cli.client_commands import parse_input, stream_run

    console = Console()
    telemetry = telemetry or TelemetrySettings.from_env()
    ensure_ports_free(settings, telemetry, mesh=True, console=True)
    configure_tracing(telemetry)
    # The live progress display shows the run; its per-event log lines would only interleave.
    logging.getLogger("aura.runs").setLevel(logging.WARNING)

    async def body() -> int:
        server = await OrchestratorServer(settings, telemetry).start()
        try:
            async with console_for(settings.console_address, server.address) as web:
                console.print(
                    f"[bold]mesh up[/bold]: 5 services, orchestrator on {server.address}, "
                    f"data in {settings.data_dir}"
                    + (f", console on {web.url}/ while the run lasts" if web else "")
                )
                run = await stream_run(
                    server.address,
                    "complete_style_analysis",
                    parse_input(json.dumps(DEMO_INPUT)),
                    labels={"source": "demo"},
                    console=console,
                )
                print_demo_summary(console, run)
                if web is not None:
                    run_id = run.name.removeprefix(RUN_PREFIX)
                    console.print(
                        f"With `.venv/bin/aura up` running, the console shows it: "
                        f"{web.url}/#/runs/{run_id}"
                    )
                return 0 if run.state == run_pb2.RUN_STATE_SUCCEEDED else 2
        finally:
            with contextlib.suppress(Exception):
                await server.stop()

    # Backends answer in 150-400 ms, like real models, so the progress is visible as it happens.
    return await _with_mesh(settings, body, DEMO_MESH_ENV)


def print_demo_summary(console: Console, run: run_pb2.WorkflowRun) -> None:
    from aura.recommendation.v1 import recommendation_pb2

    for step in run.steps:
        if step.output.Is(recommendation_pb2.RecommendItemsResponse.DESCRIPTOR):
            response = recommendation_pb2.RecommendItemsResponse()
            step.output.Unpack(response)
            table = Table(
                "recommended", "price", "why", title="recommendations", title_justify="left"
            )
            for item in response.recommendations:
                price = item.item.price
                table.add_row(
                    item.item.name,
                    f"{price.units + price.nanos / 1e9:.2f} {price.currency_code}",
                    item.reason,
                )
            console.print(table)
    state = run_pb2.RunState.Name(run.state)
    console.print(f"[bold]{run.name}[/bold] {state}; its events are kept in the SQLite store.")
    console.print("With `.venv/bin/aura up` running, `aura get RUN` shows every step's output.")
