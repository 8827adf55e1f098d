"""SIGTERM to `aura serve`, as a load balancer sees it.

NOT_SERVING on both health names while the port still accepts for AURA_SHUTDOWN_DELAY_S;
then open streams end with UNAVAILABLE + ErrorInfo(SHUTTING_DOWN) + RetryInfo; the process
exits as soon as nothing is in flight, well before AURA_SHUTDOWN_GRACE_S; after a restart a
watcher reconnecting with `after_seq` gets exactly the rest of the run.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.cli.processes import EXIT_MARGIN_S
from orchestrator.server import SERVICE_NAME
from tests.helpers import eventually
from tests.integration.cli_process import free_port, kill
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, struct
from tests.integration.server.drain_helpers import Ended, assert_shutting_down, follow
from tests.integration.server.drain_helpers import start_serve as drained_serve

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DELAY_S = 2.0
GRACE_S = 12.0
# Four levels of steps at 1 s each: the run is still going when the delay ends.
BACKEND_LATENCY_MS = 1000
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def start_serve(mesh: MockMesh, data_dir: Path, port: int) -> asyncio.subprocess.Process:
    return await drained_serve(
        mesh,
        data_dir,
        port,
        AURA_SHUTDOWN_DELAY_S=str(DELAY_S),
        AURA_SHUTDOWN_GRACE_S=str(GRACE_S),
    )


async def unary_outcome(call: object) -> Ended:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return Ended(time.monotonic(), rpc_status.from_call(error), error.code())
    return Ended(time.monotonic(), None)


async def says_not_serving(address: str, service: str) -> bool:
    """One Check over a brand-new connection; a refused connection fails the check."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            response = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except grpc.aio.AioRpcError as error:
            raise AssertionError(f"Check {service!r}: {error.code().name}") from error
    return response.status == NOT_SERVING


async def get_run_over_a_new_connection(address: str, name: str) -> run_pb2.WorkflowRun:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        response = await stub.GetWorkflowRun(
            orchestrator_pb2.GetWorkflowRunRequest(name=name), timeout=5
        )
    return response.workflow_run


async def test_sigterm_goes_not_serving_then_ends_streams_and_exits_early_and_watch_resumes(
    mesh: MockMesh, tmp_path: Path
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = BACKEND_LATENCY_MS
    port = free_port()
    address = f"127.0.0.1:{port}"
    first = await start_serve(mesh, tmp_path, port)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
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
            stream = asyncio.create_task(
                follow(
                    stub.StreamWorkflowRun(
                        orchestrator_pb2.StreamWorkflowRunRequest(
                            workflow_definition="complete_style_analysis",
                            input=struct(dict(STYLE_INPUT, user_id="streamer")),
                        )
                    ),
                    [],
                )
            )
            execute = asyncio.create_task(
                unary_outcome(
                    stub.ExecuteWorkflowRun(
                        orchestrator_pb2.ExecuteWorkflowRunRequest(
                            workflow_definition="complete_style_analysis",
                            input=struct(dict(STYLE_INPUT, user_id="executor")),
                        ),
                        timeout=60,
                    )
                )
            )
            readiness = asyncio.create_task(
                follow(
                    health_pb2_grpc.HealthStub(channel).Watch(
                        health_pb2.HealthCheckRequest(service=SERVICE_NAME)
                    ),
                    [],
                )
            )
            # All three runs have their first steps (image, nlu) in flight.
            await eventually(lambda: sum(s.in_flight for s in mesh.servers.values()) >= 6)
            await eventually(lambda: any(e.HasField("step_started") for e in watched))

            signalled = time.monotonic()
            first.send_signal(signal.SIGTERM)

            # During the delay: new connections are accepted, both names say NOT_SERVING,
            # calls are still served, and the Watch is still open.
            for service in ("", SERVICE_NAME):
                await eventually(
                    lambda service=service: says_not_serving(address, service),  # type: ignore[misc]
                    timeout_s=DELAY_S,
                    message=f"health {service!r} NOT_SERVING during the delay",
                )
            watch_open_while_not_serving = not watch.done()
            got = await get_run_over_a_new_connection(address, name)
            within_delay_s = time.monotonic() - signalled
            assert within_delay_s < DELAY_S, f"checks took {within_delay_s:.1f}s"
            assert got.name == name, "calls are still served during the delay"
            assert watch_open_while_not_serving, "the Watch stays open during the delay"

            ended = await asyncio.wait_for(watch, timeout=DELAY_S + 10)
            assert_shutting_down(ended, "WatchWorkflowRun")
            assert ended.at - signalled >= DELAY_S * 0.9, "streams end after the delay"
            assert ended.at - signalled < DELAY_S + 4, "and promptly after it"
            assert_shutting_down(await asyncio.wait_for(stream, timeout=10), "StreamWorkflowRun")
            assert_shutting_down(await asyncio.wait_for(execute, timeout=10), "ExecuteWorkflowRun")
            assert_shutting_down(await asyncio.wait_for(readiness, timeout=10), "Health.Watch")

            returncode = await asyncio.wait_for(first.wait(), timeout=DELAY_S + GRACE_S + 10)
            took_s = time.monotonic() - signalled
            assert returncode == 0
            assert took_s < DELAY_S + GRACE_S / 2, f"exited {took_s:.1f}s after SIGTERM"
            assert not any(e.HasField("run_finished") for e in watched), "the run was cut short"
    finally:
        kill(first)

    second = await start_serve(mesh, tmp_path, port)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            rest = await asyncio.wait_for(
                collect_events(stub, name, after_seq=watched[-1].seq), timeout=30
            )
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            assert await asyncio.wait_for(second.wait(), timeout=DELAY_S + GRACE_S + 10) == 0
        finally:
            kill(second)

    history = watched + rest
    assert [e.seq for e in history] == list(range(1, len(history) + 1)), "no gap, no duplicate"
    assert "run_resumed" in [e.WhichOneof("event") for e in rest]
    assert history[-1].run_finished.state == run_pb2.RUN_STATE_SUCCEEDED
    assert EXIT_MARGIN_S < GRACE_S / 2
