"""Child processes of a benchmark (mock mesh, orchestrator, grpc.aio floor) and what the OS says
about them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orchestrator.config import DEFAULT_SERVICES

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcStats:
    """From /proc: peak and current resident set size (MiB) and CPU seconds used so far."""

    peak_rss_mib: float | None
    rss_mib: float | None
    cpu_s: float | None


def proc_stats(pid: int) -> ProcStats:
    peak = rss = cpu = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        try:  # not Linux: psutil when installed
            import psutil  # type: ignore[import-untyped]

            process = psutil.Process(pid)
            info = process.memory_info()
            rss = info.rss / 2**20
            peak = getattr(info, "peak_wset", info.rss) / 2**20
            times = process.cpu_times()
            cpu = times.user + times.system
        except Exception:
            pass
    return ProcStats(peak, rss, cpu)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_serving(
    address: str,
    service: str = "",
    timeout_s: float = 30.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                response = await stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=1.0
                )
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{address} did not become SERVING within {timeout_s:.0f}s")
            await asyncio.sleep(0.05)


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    last: ProcStats = field(default_factory=lambda: ProcStats(None, None, None))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self) -> ProcStats:
        if self.process.returncode is None:
            self.last = proc_stats(self.pid)
        return self.last

    async def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.returncode is not None:
            return
        self.stats()  # peak RSS, read while the process still exists
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def spawn_child(name: str, module: str, *args: str) -> tuple[Child, bytes]:
    """`python -m <module> <args>` as a child; returns it with the first line it prints
    (what it tells the parent: addresses, a port). The child is stopped if that fails."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": _pythonpath()},
    )
    child = Child(name, process)
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
    except BaseException:
        await child.stop()
        raise
    return child, line


async def start_mesh(latency_ms: float, memoize: bool = True) -> tuple[Child, dict[str, str]]:
    child, line = await spawn_child(
        "mesh",
        "benchmarks.mesh_server",
        "--latency-ms",
        str(latency_ms),
        "--memoize" if memoize else "--no-memoize",
    )
    try:
        addresses: dict[str, str] = json.loads(line)
    except BaseException:
        await child.stop()
        raise
    for address in addresses.values():
        await wait_serving(address)
    return child, addresses


@dataclass
class Orchestrator:
    child: Child
    address: str
    data_dir: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    metrics_port: int | None = None

    async def stop(self) -> None:
        await self.child.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


async def start_orchestrator(
    addresses: dict[str, str],
    *,
    prefix: list[str] | None = None,
    data_dir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> Orchestrator:
    """`python -m orchestrator.cli serve` on a free port, durable SQLite in a fresh dir.

    `credentials`: what the readiness probe connects with when `extra_env` turns TLS on.

    `prefix` wraps the command (e.g. a profiler: ["py-spy", "record", "-o", "x.svg", "--"]);
    the process statistics are then the wrapper's.
    """
    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="aura-bench-")
        data_dir = Path(tmp.name)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": _pythonpath(),
        "AURA_HOST": "127.0.0.1",
        "AURA_PORT": str(port),
        "AURA_DATA_DIR": str(data_dir),
        "AURA_LOG_LEVEL": "WARNING",
        "AURA_SHUTDOWN_GRACE_S": "2",
        # A free port, like the gRPC one: two orchestrators may serve at once (store).
        "AURA_METRICS_PORT": str(free_port()),
        **(extra_env or {}),
    }
    for service, (short, _) in DEFAULT_SERVICES.items():
        env[f"AURA_SERVICE_{short.upper()}_ADDRESSES"] = addresses[service]
    command = [*(prefix or []), sys.executable, "-m", "orchestrator.cli", "serve"]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stderr=asyncio.subprocess.DEVNULL
    )
    address = f"127.0.0.1:{port}"
    metrics_setting = env["AURA_METRICS_PORT"]  # extra_env may have turned it "off"
    metrics = int(metrics_setting) if metrics_setting.isdigit() and metrics_setting != "0" else None
    orchestrator = Orchestrator(Child("orchestrator", process), address, data_dir, tmp, metrics)
    try:
        await wait_serving(
            address, "aura.orchestrator.v1.OrchestratorService", credentials=credentials
        )
    except BaseException:
        await orchestrator.stop()
        raise
    return orchestrator


@dataclass
class Floor:
    """`benchmarks.floor_server`: the five calls by hand behind one grpc.aio server."""

    child: Child
    address: str

    async def stop(self) -> None:
        await self.child.stop()


FLOOR_SERVICE = "aura.orchestrator.v1.OrchestratorService"


async def start_floor(addresses: dict[str, str]) -> Floor:
    """`python -m benchmarks.floor_server` on a free loopback port, SERVING when returned."""
    child, line = await spawn_child(
        "floor",
        "benchmarks.floor_server",
        "--addresses",
        json.dumps(addresses),
        "--port",
        str(free_port()),
    )
    try:
        if not line.strip():
            raise RuntimeError("benchmarks.floor_server ended before printing its port")
        floor = Floor(child, f"127.0.0.1:{int(line)}")
        await wait_serving(floor.address, FLOOR_SERVICE)
    except BaseException:
        await child.stop()
        raise
    return floor


def _pythonpath() -> str:
    parts = [str(ROOT), str(ROOT / "stubs")]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)
