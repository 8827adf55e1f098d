"""`aura up --store URL --replicas 2`: the mesh and two replicas on one store, each
serving, each listed by the other; Ctrl-C stops them all."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from tests.helpers import eventually
from tests.integration.cli.test_cli_up import up_env
from tests.integration.cli_process import AURA
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration


async def test_up_with_two_replicas_serves_one_cluster(empty_pg_dsn: str, tmp_path: Path) -> None:
    env = up_env(tmp_path)
    first = int(env["AURA_PORT"])
    addresses = [f"127.0.0.1:{first}", f"127.0.0.1:{first + 1}"]
    process = await asyncio.create_subprocess_exec(
        AURA,
        "up",
        "--store",
        empty_pg_dsn,
        "--replicas",
        "2",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        channel = grpc.aio.insecure_channel(addresses[1])
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)

        async def both_listed() -> bool:
            try:
                answer = await stub.ListServices(orchestrator_pb2.ListServicesRequest(), timeout=2)
            except grpc.aio.AioRpcError:
                return False
            return {r.id for r in answer.replicas if r.alive} == {"replica-1", "replica-2"}

        await eventually(both_listed, timeout_s=40, interval_s=0.5, message="both replicas")
        answer = await stub.ExecuteWorkflowRun(
            orchestrator_pb2.ExecuteWorkflowRunRequest(
                workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
            ),
            timeout=20,
        )
        run = answer.workflow_run
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED
        async with grpc.aio.insecure_channel(addresses[0]) as other:
            seen = await orchestrator_pb2_grpc.OrchestratorServiceStub(other).GetWorkflowRun(
                orchestrator_pb2.GetWorkflowRunRequest(name=run.name), timeout=5
            )
        assert seen.workflow_run.state == run.state, "the other replica reads the same store"
        await channel.close()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
