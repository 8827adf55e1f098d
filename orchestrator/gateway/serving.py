"""The console's HTTP server: uvicorn inside the caller's event loop, on a socket bound
before it starts (so port 0 works and the address is known), without uvicorn's own
signal handling (the process that embeds it owns SIGINT/SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator

import grpc
import uvicorn

from orchestrator.gateway.app import create_app, gateway_channel

# Open event streams are closed this long after a stop at the latest.
GRACEFUL_STOP_S = 1


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def parse_console_address(text: str) -> tuple[str, int] | None:
    """ "host:port" -> (host, port); "" or "off" -> None (no console)."""
    text = text.strip()
    if text.lower() in ("", "off", "0", "false", "no"):
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port or off, got {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class ConsoleServer:
    """The gateway and console for the orchestrator at `target`, served on `host:port`."""

    def __init__(
        self,
        host: str,
        port: int,
        target: str,
        channel_to: Callable[[str], grpc.aio.Channel] = gateway_channel,
    ) -> None:
        self.host = host
        self.port = port
        self.target = target
        self.app = create_app(target, channel_to)
        self._socket: socket.socket | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> ConsoleServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise RuntimeError(
                f"the console cannot listen on {self.host}:{self.port} ({error.strerror}); "
                "choose another AURA_CONSOLE_ADDRESS, or off"
            ) from error
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
        config.load()
        server = _EmbeddedServer(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._socket, self._server = sock, server
        self._task = asyncio.ensure_future(server.main_loop())
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        await self._server.shutdown(sockets=[self._socket] if self._socket else None)
        self._server = self._task = self._socket = None

    async def __aenter__(self) -> ConsoleServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
