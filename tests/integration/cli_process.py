"""Runs the real `aura` command in a child process, as a user's shell or a container would."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mock_services.mesh import MockMesh
from orchestrator.cli.processes import wait_serving
from tests.helpers import REPO_ROOT

AURA = str(Path(sys.executable).parent / "aura")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any AURA_* of the machine, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env.pop("FORCE_COLOR", None)
    env.pop("COLUMNS", None)
    return {**env, **overrides}


async def aura(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> Result:
    process = await asyncio.create_subprocess_exec(
        AURA,
        *args,
        env=env if env is not None else clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    assert process.returncode is not None
    return Result(process.returncode, ANSI.sub("", out.decode()), ANSI.sub("", err.decode()))


def free_port() -> int:
    """A port nothing listens on (the kernel's pick, released again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


SHORT_NAMES = {
    "aura.image.v1.ImageProcessingService": "IMAGE",
    "aura.nlu.v1.NluService": "NLU",
    "aura.style.v1.StyleProfileService": "STYLE",
    "aura.combination.v1.CombinationEngineService": "COMBINATION",
    "aura.recommendation.v1.RecommendationEngineService": "RECOMMENDATION",
}


class OrchestratorProcess:
    """`aura serve` in a child process, so it can be killed for real."""

    def __init__(self, mesh: MockMesh, data_dir: Path, port: int) -> None:
        self.env = dict(
            os.environ,
            AURA_PORT=str(port),
            AURA_DATA_DIR=str(data_dir),
            AURA_LOG_LEVEL="WARNING",
            AURA_METRICS_PORT="off",  # no fixed port shared with anything else on the machine
        )
        for service, address in mesh.addresses().items():
            self.env[f"AURA_SERVICE_{SHORT_NAMES[service]}_ADDRESSES"] = address
        self.address = f"127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator.cli", "serve", env=self.env, cwd=REPO_ROOT
        )
        serving = asyncio.create_task(self._wait_serving(timeout_s=30))
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            serving.cancel()
            raise AssertionError(f"aura serve exited with {self.process.returncode} before serving")
        exited.cancel()
        serving.result()

    async def _wait_serving(self, timeout_s: float) -> None:
        """Until the port takes connections (polled every 20 ms), then until SERVING. A
        health probe's channel that met a closed port would wait out gRPC's reconnect
        backoff (1 s, then 1.6 s...) before trying again, which a restart would pay."""
        host, port = self.address.rsplit(":", 1)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            break
        await wait_serving(self.address, timeout_s=max(1.0, deadline - time.monotonic()))

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout=15)


def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
