"""`OrchestratorServer.stop` does not wait out its grace for streams that would never end:
health Watches (client-side health checking) and run Watches end with SHUTTING_DOWN, the
run Watch saying where to reconnect."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import SERVICE_NAME, OrchestratorServer
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import STYLE_INPUT, settings_for, struct
from tests.integration.server.drain_helpers import Ended, assert_shutting_down, follow

pytestmark = pytest.mark.integration

GRACE_S = 10.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_watch(channel: grpc.aio.Channel, service: str, seen: list[int]) -> Ended:
    call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service))
    try:
        async for response in call:
            seen.append(response.status)
    except grpc.aio.AioRpcError as error:
        return Ended(time.monotonic(), rpc_status.from_call(error), error.code())
    return Ended(time.monotonic(), None)


async def test_stop_ends_health_and_run_watches_at_once_instead_of_waiting_out_the_grace(
    mesh: MockMesh, tmp_path: Path
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 1000  # the run is still going when stop() begins
    settings = dataclasses.replace(settings_for(mesh, tmp_path), shutdown_grace_s=GRACE_S)
    server = await OrchestratorServer(settings).start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            started = await stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
                )
            )
            name = started.workflow_run.name
            watched: list[run_pb2.RunEvent] = []
            watch = asyncio.create_task(
                follow(
                    stub.WatchWorkflowRun(orchestrator_pb2.WatchWorkflowRunRequest(name=name)),
                    watched,
                )
            )
            seen: dict[str, list[int]] = {"": [], SERVICE_NAME: []}
            health = {
                service: asyncio.create_task(health_watch(channel, service, statuses))
                for service, statuses in seen.items()
            }
            await eventually(lambda: all(statuses == [SERVING] for statuses in seen.values()))
            await eventually(lambda: any(e.HasField("step_started") for e in watched))

            began = time.monotonic()
            await asyncio.wait_for(server.stop(), timeout=GRACE_S + 5)
            took_s = time.monotonic() - began

            assert took_s < GRACE_S / 3, f"stop() took {took_s:.1f}s"
            for service, task in health.items():
                assert_shutting_down(await task, f"Health.Watch {service!r}")
                assert seen[service] == [SERVING, NOT_SERVING], service
            ended = await watch
            assert_shutting_down(ended, "WatchWorkflowRun")
            assert ended.status is not None
            info = error_details_pb2.ErrorInfo()
            assert any(detail.Unpack(info) for detail in ended.status.details)
            assert info.metadata["after_seq"] == str(watched[-1].seq), "where to reconnect"
            assert not any(e.HasField("run_finished") for e in watched)
    finally:
        await server.stop()
