"""Redis for tests: every test gets its own key prefix, its keys deleted after it.

The server is `AURA_TEST_REDIS_URL` (default `redis://127.0.0.1:6379/0`, the machine's).
A test using these fixtures skips, saying why, when that server cannot be reached, and
FAILS instead when `AURA_REQUIRE_SERVICES=1` (CI, where the server must be there).
A plugin of every test (`pytest_plugins` in tests/conftest.py): `bus`, `private_redis`.

- `bus`: a BusConnection to the shared server with a fresh prefix `aura-test-<hex>:`
  and short timings (TEST_SETTINGS); every key under the prefix is deleted after.
- `private_redis`: a `redis-server` of the test's own on a free port of 45000-45099,
  nothing kept on disk, for what must not touch the shared server (FLUSHALL, restart).

Plain helpers (`redis_url`, `settings_for_test`, `delete_prefix`) are imported from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import redis
import redis.asyncio as aioredis

from orchestrator.bus import BusConnection, BusSettings

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Short blocks and reclaim times, so a test waits tenths of a second, not seconds.
TEST_SETTINGS = BusSettings(
    block_s=0.5, socket_margin_s=2.0, claim_idle_s=0.6, reclaim_interval_s=0.1, max_deliveries=3
)
PRIVATE_PORTS = range(45000, 45100)
_problems: dict[str, str | None] = {}


def redis_url() -> str:
    return os.environ.get("AURA_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def services_required() -> bool:
    return os.environ.get("AURA_REQUIRE_SERVICES") == "1"


def missing(what: str) -> None:
    """Skip the test because `what` is missing; fail it when services are required."""
    if services_required():
        pytest.fail(f"{what} (AURA_REQUIRE_SERVICES=1)")
    pytest.skip(what)


def redis_problem(url: str) -> str | None:
    """Why the Redis at `url` cannot be used, or None; asked once per URL."""
    if url not in _problems:
        try:
            with redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0) as r:
                r.ping()
            _problems[url] = None
        except redis.exceptions.RedisError as error:
            _problems[url] = f"Redis at {url} is unreachable: {error}"
    return _problems[url]


def require_redis() -> str:
    """The test Redis's URL; skips the test (fails it under AURA_REQUIRE_SERVICES=1)
    when it cannot be reached."""
    url = redis_url()
    problem = redis_problem(url)
    if problem:
        missing(problem)
    return url


def settings_for_test(**changes: object) -> BusSettings:
    """TEST_SETTINGS with a fresh prefix and `changes`."""
    prefix = f"aura-test-{secrets.token_hex(6)}:"
    return dataclasses.replace(TEST_SETTINGS, prefix=prefix, **changes)  # type: ignore[arg-type]


async def delete_prefix(client: aioredis.Redis, prefix: str) -> int:
    """Deletes every key under `prefix`; how many."""
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await client.delete(*keys)
    return len(keys)


@pytest.fixture
async def bus() -> AsyncIterator[BusConnection]:
    settings = settings_for_test()
    connection = BusConnection.from_url(require_redis(), settings)
    try:
        yield connection
    finally:
        await delete_prefix(connection.commands, settings.prefix)
        await connection.close()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class RedisServer:
    """A redis-server of one test; `restart()` kills it (SIGKILL) and starts it empty."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(redis.exceptions.RedisError),
                redis.Redis(port=self.port, socket_timeout=0.2) as client,
            ):
                if client.ping():
                    return
            time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)
            self.process = None

    async def restart(self) -> None:
        self.kill()
        await asyncio.to_thread(self.start)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed (apt-get install redis-server)")
    port = next((p for p in PRIVATE_PORTS if _port_free(p)), None)
    if port is None:
        missing("no free port in 45000-45099 for a private redis-server")
    server = RedisServer(port)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.kill()
