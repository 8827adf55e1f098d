"""All five mocks together: in tests (`async with MockMesh()`) or as `python -m mock_services`."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from types import TracebackType

from mock_services.common.cli import build_parser, configure_logging, faults_from_args
from mock_services.common.faults import FaultConfig, FaultSyntaxError
from mock_services.common.server import MockServer, start_mock_server
from mock_services.common.tls import MockTls
from mock_services.registry import SERVICE_PORTS, SERVICES

__all__ = ["SERVICE_PORTS", "MockMesh", "main", "serve_mesh"]

log = logging.getLogger(__name__)


class MockMesh:
    """Starts the five mock servers; on port 0 each unless `use_default_ports`; with `tls`,
    each serves mTLS with its own certificate from that directory."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        use_default_ports: bool = False,
        faults: dict[str, FaultConfig] | None = None,
        tls: MockTls | None = None,
    ) -> None:
        unknown = set(faults or {}) - set(SERVICES)
        if unknown:
            raise ValueError(f"faults for unknown services: {sorted(unknown)}")
        self.host = host
        self.use_default_ports = use_default_ports
        self._faults = dict(faults or {})
        self.tls = tls
        self.servers: dict[str, MockServer] = {}

    def __getitem__(self, name: str) -> MockServer:
        return self.servers[name]

    def addresses(self) -> dict[str, str]:
        """Full service name (e.g. "aura.nlu.v1.NluService") -> "host:port"."""
        return {server.service_name: server.address for server in self.servers.values()}

    async def start(self) -> MockMesh:
        try:
            for name in SERVICES:
                port = SERVICE_PORTS[name] if self.use_default_ports else 0
                self.servers[name] = await start_mock_server(
                    name, f"{self.host}:{port}", self._faults.get(name), tls=self.tls
                )
        except BaseException:
            await self.stop(grace_s=0)
            raise
        return self

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stops every server concurrently, each draining its in-flight calls for `grace_s`."""
        await asyncio.gather(*(server.stop(grace_s) for server in self.servers.values()))

    async def __aenter__(self) -> MockMesh:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve_mesh(
    host: str = "127.0.0.1",
    faults: dict[str, FaultConfig] | None = None,
    grace_s: float = 1.0,
) -> None:
    """Runs the mesh on the default ports until SIGINT or SIGTERM, then stops it gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        tls = MockTls.from_env()
        async with MockMesh(host, use_default_ports=True, faults=faults, tls=tls) as mesh:
            for name, server in mesh.servers.items():
                print(f"{name:<15} {server.service_name:<48} {server.address}", flush=True)
            await stop.wait()
            log.info("signal received; draining for up to %.1fs", grace_s)
            await mesh.stop(grace_s)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mock_services`: the whole mesh on ports 8001-8005."""
    parser = build_parser("python -m mock_services", "Run the five mock AI services.")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        faults = {name: faults_from_args(args, name) for name in SERVICES}
    except FaultSyntaxError as error:
        parser.error(str(error))
    try:
        asyncio.run(serve_mesh(args.host, faults, args.grace_s))
    except OSError as error:
        log.error("%s", error)
        return 1
    return 0
