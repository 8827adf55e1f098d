"""`python -m mock_services.listen image=127.0.0.1:8001 ...`: the mock services, each on the
address given (`aura up` and `aura demo` pass the ones the orchestrator is configured with
AURA_SERVICE_<NAME>_ADDRESSES; the interface from AURA_MOCK_HOST when set), until
SIGTERM or SIGINT. Faults, log level and TLS (AURA_MOCK_TLS_DIR) from AURA_MOCK_*."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from mock_services import FaultConfig, MockServer, start_mock_server
from mock_services.common.tls import MockTls


async def serve(addresses: dict[str, str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers: list[MockServer] = []
    tls = MockTls.from_env()
    try:
        for name, address in addresses.items():
            faults = FaultConfig.from_env(service=name)
            server = await start_mock_server(name, address, faults, tls=tls)
            servers.append(server)
            print(f"{name:<15} {server.service_name:<48} {server.address}", flush=True)
        await stop.wait()
    finally:
        await asyncio.gather(*(server.stop(1.0) for server in servers))


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=os.environ.get("AURA_MOCK_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    addresses = dict(arg.split("=", 1) for arg in argv)
    if host := os.environ.get("AURA_MOCK_HOST"):  # e.g. 0.0.0.0 in the container image
        addresses = {name: f"{host}:{a.rpartition(':')[2]}" for name, a in addresses.items()}
    try:
        asyncio.run(serve(addresses))
    except (OSError, RuntimeError, ValueError) as error:
        print(f"mock services: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
