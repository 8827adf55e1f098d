"""A SIGKILLed orchestrator resumes its unfinished runs after a restart, losing no event."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import wait_serving
from tests.helpers import REPO_ROOT
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHORT_NAMES = {
    "aura.image.v1.ImageProcessingService": "IMAGE",
    "aura.nlu.v1.NluService": "NLU",
    "aura.style.v1.StyleProfileService": "STYLE",
    "aura.combination.v1.CombinationEngineService": "COMBINATION",
    "aura.recommendation.v1.RecommendationEngineService": "RECOMMENDATION",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        serving = asyncio.create_task(wait_serving(self.address, timeout_s=30))
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            serving.cancel()
            raise AssertionError(f"aura serve exited with {self.process.returncode} before serving")
        exited.cancel()
        serving.result()

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def terminate(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout=15)


@pytest.fixture
async def slow_mesh(mesh: MockMesh) -> AsyncIterator[MockMesh]:
    for server in mesh.servers.values():
        server.faults.latency_ms = 120
    yield mesh


@pytest.mark.parametrize("kill_after_events", [2, 5, 9, 13])
async def test_runs_killed_mid_flight_finish_after_restart_with_gap_free_history(
    slow_mesh: MockMesh, tmp_path: Path, kill_after_events: int
) -> None:
    port = free_port()
    first = OrchestratorProcess(slow_mesh, tmp_path, port)
    await first.start()
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        names = []
        for index in range(3):
            started = await stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="complete_style_analysis",
                    input=struct(dict(STYLE_INPUT, user_id=f"user-{index}")),
                )
            )
            names.append(started.workflow_run.name)
        seen = 0
        async for _ in stub.WatchWorkflowRun(
            orchestrator_pb2.WatchWorkflowRunRequest(name=names[0])
        ):
            seen += 1
            if seen >= kill_after_events:
                break
    await first.kill()

    second = OrchestratorProcess(slow_mesh, tmp_path, port)
    await second.start()
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            for name in names:
                events = await asyncio.wait_for(collect_events(stub, name), timeout=20)
                assert [e.seq for e in events] == list(range(1, len(events) + 1)), (
                    "no gap, no duplicate"
                )
                kinds = [e.WhichOneof("event") for e in events]
                assert kinds.count("run_finished") == 1 and kinds[-1] == "run_finished"
                assert events[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED
                run = (
                    await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
                ).workflow_run
                assert all(s.state == run_pb2.STEP_STATE_SUCCEEDED for s in run.steps)
                succeeded = [
                    e.step_succeeded.step_id for e in events if e.HasField("step_succeeded")
                ]
                assert sorted(succeeded) == sorted(s.step_id for s in run.steps), (
                    "each step succeeded once"
                )
    finally:
        await second.terminate()
    # Steps re-run after the crash carried the same idempotency key (run id + step id).
    style = slow_mesh.servers["style"]
    assert style.last_idempotency_key and style.last_idempotency_key.startswith(
        tuple(n.removeprefix("workflowRuns/") for n in names)
    )
