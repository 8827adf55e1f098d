"""`aura serve --console`: the orchestrator with the web console and HTTP API beside it;
plain `aura serve` (what deployments run) serves no console."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from mock_services.mesh import MockMesh
from tests.helpers import eventually
from tests.integration.cli_process import AURA, clean_env, free_port

pytestmark = pytest.mark.integration


def serve_env(mesh: MockMesh, data_dir: Path, console_port: int) -> dict[str, str]:
    env = clean_env(
        AURA_PORT=str(free_port()),
        AURA_METRICS_PORT="off",
        AURA_DATA_DIR=str(data_dir),
        AURA_CONSOLE_ADDRESS=f"127.0.0.1:{console_port}",
        AURA_SHUTDOWN_GRACE_S="1",
    )
    for service, address in mesh.addresses().items():
        short = service.split(".")[1].upper()
        env[f"AURA_SERVICE_{short}_ADDRESSES"] = address
    return env


async def answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        try:
            return (await http.get(url)).status_code == 200
        except httpx.TransportError:
            return False


@pytest.mark.parametrize("flag", [True, False], ids=["--console", "without"])
async def test_serve_serves_the_console_only_when_asked(
    mesh: MockMesh, tmp_path: Path, flag: bool
) -> None:
    port = free_port()
    env = serve_env(mesh, tmp_path / "data", port)
    args = ["serve", "--console"] if flag else ["serve"]
    process = await asyncio.create_subprocess_exec(
        AURA, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stderr is not None
        while b"orchestrator serving on" not in (line := await process.stderr.readline()):
            assert line, "aura serve exited before serving"
        if flag:
            await eventually(lambda: answers(f"http://127.0.0.1:{port}/v1/services"), timeout_s=10)
        else:
            assert not await answers(f"http://127.0.0.1:{port}/")
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0
    said = f"console and HTTP API on http://127.0.0.1:{port}/" in rest.decode()
    assert said == flag
