"""Chaos: backends killed, hung, slowed, erroring and flapping while runs flow.

Whatever happens, every run ends in a defined final state, none stays RUNNING, and
every run's history is whole: seq 1..n without gaps, one final event, and a watcher
sees exactly what the store holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services import start_mock_server
from mock_services.common.server import MockServer
from mock_services.mesh import MockMesh
from orchestrator.resilience import BreakerSettings, ServicePolicy
from orchestrator.runs import EVERY_TENANT
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT, collect_events, settings_for, struct

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NLU = "aura.nlu.v1.NluService"
FINAL = {
    run_pb2.RUN_STATE_SUCCEEDED,
    run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED,
    run_pb2.RUN_STATE_FAILED,
    run_pb2.RUN_STATE_CANCELLED,
}
TERMINAL_STEPS = {
    run_pb2.STEP_STATE_SUCCEEDED,
    run_pb2.STEP_STATE_FAILED,
    run_pb2.STEP_STATE_SKIPPED,
    run_pb2.STEP_STATE_CANCELLED,
}
RUNS = 40


async def flap(server: MockServer, period_s: float) -> None:
    serving = True
    while True:
        await asyncio.sleep(period_s)
        serving = not serving
        await server.set_serving(serving)


async def chaos(mesh: MockMesh, extra_nlu: list[MockServer]) -> None:
    """About two seconds of trouble on every service."""
    mesh["image"].faults.latency_ms = 50
    mesh["image"].faults.jitter_ms = 100
    mesh["style"].faults.error_rate = 0.3
    flapping = asyncio.create_task(flap(extra_nlu[0], 0.15))
    try:
        await asyncio.sleep(0.5)
        mesh["combination"].faults.hang = True
        await asyncio.sleep(0.3)
        await extra_nlu[1].stop(grace_s=0)
        await asyncio.sleep(0.4)
        mesh["combination"].faults.hang = False
        await asyncio.sleep(0.3)
        await mesh["recommendation"].stop(grace_s=0)
        await asyncio.sleep(0.5)
    finally:
        flapping.cancel()


async def test_every_run_ends_defined_and_whole_while_backends_fail(
    mesh: MockMesh, tmp_path: Path
) -> None:
    extra_nlu = [await start_mock_server("nlu"), await start_mock_server("nlu")]
    settings = settings_for(mesh, tmp_path / "data")
    addresses = dict(settings.service_addresses)
    addresses[NLU] = [mesh["nlu"].address, *(s.address for s in extra_nlu)]
    settings = dataclasses.replace(
        settings,
        service_addresses=addresses,
        default_service_policy=ServicePolicy(breaker=BreakerSettings(base_open_s=0.2)),
    )
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            trouble = asyncio.create_task(chaos(mesh, extra_nlu))
            names = []
            for index in range(RUNS):
                started = await stub.StartWorkflowRun(
                    orchestrator_pb2.StartWorkflowRunRequest(
                        workflow_definition="complete_style_analysis",
                        input=struct(dict(STYLE_INPUT, user_id=f"chaos-{index}")),
                        timeout={"seconds": 3},
                    )
                )
                names.append(started.workflow_run.name)
                await asyncio.sleep(0.05)
            await trouble

            runs = await asyncio.wait_for(
                asyncio.gather(*(server.engine.wait_finished(name) for name in names)),
                timeout=10,
            )
            assert server.engine.active_run_count == 0
            states = [run.state for run in runs]
            assert set(states) <= FINAL, states
            for run in runs:
                assert all(s.state in TERMINAL_STEPS for s in run.steps), run
                stored = await server.store.read_events(run.name, scope=EVERY_TENANT)
                watched = await collect_events(stub, run.name)
                assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
                assert watched == stored
                assert stored[0].HasField("run_created")
                assert [e.HasField("run_finished") for e in stored].count(True) == 1
                assert stored[-1].HasField("run_finished")
                assert run.last_event_seq == len(stored)
                for step in run.steps:
                    started_events = [
                        e
                        for e in stored
                        if e.HasField("step_started") and e.step_started.step_id == step.step_id
                    ]
                    assert len(started_events) == step.attempts
            listed = await stub.ListServices(orchestrator_pb2.ListServicesRequest())
            by_name = {s.service: s for s in listed.services}
            recommendation = by_name["aura.recommendation.v1.RecommendationEngineService"]
            assert recommendation.circuit_trips >= 1
            print(
                "chaos outcomes:",
                {run_pb2.RunState.Name(s): states.count(s) for s in sorted(set(states))},
            )
    finally:
        await server.stop(grace_s=0.2)
        for replica in extra_nlu:
            await replica.stop(grace_s=0)
