"""`aura up` on the ports it is configured with, and a port already taken, said at once."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.config import DEFAULT_SERVICES
from tests.helpers import eventually
from tests.integration.cli_process import AURA, aura, clean_env, free_port

pytestmark = pytest.mark.integration


def up_env(data_dir: Path, **ports: int) -> dict[str, str]:
    """Every port `aura up` listens on moved off the defaults (8001-8006, 9464, 8080)."""
    env = clean_env(
        AURA_PORT=str(ports.get("orchestrator") or free_port()),
        AURA_METRICS_PORT=str(ports.get("metrics") or free_port()),
        AURA_CONSOLE_ADDRESS=f"127.0.0.1:{ports.get('console') or free_port()}",
        AURA_DATA_DIR=str(data_dir),
        AURA_SHUTDOWN_GRACE_S="1",
    )
    for short, _ in DEFAULT_SERVICES.values():
        port = ports.get(short) or free_port()
        env[f"AURA_SERVICE_{short.upper()}_ADDRESSES"] = f"127.0.0.1:{port}"
    return env


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port this test process listens on, as a stray server would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("what", "setting"),
    [
        ("style", "the style mock service, AURA_SERVICE_STYLE_ADDRESSES"),
        ("orchestrator", "the orchestrator, AURA_PORT"),
        ("metrics", "metrics, AURA_METRICS_PORT"),
        ("console", "the console, AURA_CONSOLE_ADDRESS"),
    ],
)
async def test_a_taken_port_is_named_at_once_with_its_process_and_setting(
    tmp_path: Path, taken_port: int, what: str, setting: str
) -> None:
    started = time.monotonic()
    result = await aura("up", env=up_env(tmp_path, **{what: taken_port}), timeout_s=40)
    took_s = time.monotonic() - started

    assert result.code == 1
    assert f"port {taken_port} ({setting}) is already in use by pid {os.getpid()}" in result.stderr
    assert took_s < 15, "no waiting for a service that cannot start"
    assert "Traceback" not in result.stderr
    assert "8001" not in result.stderr, "no other port is blamed"


async def test_up_serves_the_mesh_orchestrator_and_console_on_the_configured_ports(
    tmp_path: Path,
) -> None:
    env = up_env(tmp_path)
    address = f"127.0.0.1:{env['AURA_PORT']}"
    process = await asyncio.create_subprocess_exec(
        AURA, "up", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:

        async def doctor_passes() -> bool:
            result = await aura("doctor", "--address", address, "--timeout", "5")
            return result.code == 0

        await eventually(doctor_passes, timeout_s=40, interval_s=0.5, message="aura doctor passes")
        console = f"http://{env['AURA_CONSOLE_ADDRESS']}"
        async with httpx.AsyncClient(base_url=console, timeout=10) as http:
            assert "<title>Aura console</title>" in (await http.get("/")).text
            services = (await http.get("/v1/services")).json()["services"]
        assert len(services) == len(DEFAULT_SERVICES)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    assert f"console and HTTP API on {console}/" in stderr.decode()
