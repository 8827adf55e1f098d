"""GetAnalytics answers from the run store: runs of an earlier orchestrator process over
the same data directory count after a restart, the window bounds the runs, and the cap
on runs analysed is reported."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.analytics import MAX_ANALYZED_RUNS, AnalyticsRecorder, StoreAnalytics
from orchestrator.errors import NotFound
from orchestrator.runs import EVERY_TENANT
from orchestrator.server import OrchestratorServer
from orchestrator.workflows import CompiledWorkflow
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, settings_for

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"


@pytest.fixture
async def image_bound_mesh(mesh: MockMesh) -> AsyncIterator[MockMesh]:
    """The image service answers after 150 ms: the longest step of every run."""
    mesh["image"].faults.latency_ms = 150
    yield mesh


def advice_of(response: orchestrator_pb2.GetAnalyticsResponse) -> orchestrator_pb2.DefinitionAdvice:
    return next(a for a in response.advice if a.workflow_definition == STYLE)


async def analytics(
    stub: Stub, window_s: float | None = None
) -> orchestrator_pb2.GetAnalyticsResponse:
    request = orchestrator_pb2.GetAnalyticsRequest()
    if window_s is not None:
        request.window.FromNanoseconds(int(window_s * 1e9))
    return await stub.GetAnalytics(request)


async def test_runs_of_an_earlier_process_count_after_a_restart_with_their_advice(
    image_bound_mesh: MockMesh, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    earlier = OrchestratorProcess(image_bound_mesh, data_dir, free_port())
    await earlier.start()
    try:
        image_bound_mesh["nlu"].faults.fail_next = 1  # one retry, in the first run
        async with grpc.aio.insecure_channel(earlier.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            for _ in range(3):
                await execute(stub, "complete_style_analysis", STYLE_INPUT)
    finally:
        await earlier.terminate()

    server = OrchestratorServer(settings_for(image_bound_mesh, data_dir))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            response = await analytics(stub)
            assert (response.runs_matched, response.runs_analyzed) == (3, 3)
            assert response.max_analyzed_runs == MAX_ANALYZED_RUNS
            [runs] = [d for d in response.definitions if d.workflow_definition == STYLE]
            assert runs.run_count == 3 and runs.success_rate == 1.0
            nlu_stats = next(s for s in response.steps if s.step_id == "nlu")
            assert nlu_stats.retry_count == 1

            advice = advice_of(response)
            assert advice.run_count == 3
            path = advice.critical_path
            assert [s.step_id for s in path.steps][:1] == ["image"]
            assert path.steps[0].share > 0.5
            assert sum(s.share for s in path.steps) == pytest.approx(1.0)
            assert path.recommendation.startswith("step image is ")
            parallelism = advice.parallelism
            assert parallelism.ideal_speedup > 1.0  # image and nlu can run at once
            assert 0 < parallelism.measured_speedup <= parallelism.ideal_speedup + 1e-9
            nlu = next(c for c in advice.cache_candidates if c.step_id == "nlu")
            assert (nlu.call_count, nlu.distinct_request_count, nlu.repeated_call_count) == (
                3,
                1,
                2,
            )
            [retried] = advice.retry_hot_spots
            assert (retried.step_id, retried.retry_count) == ("nlu", 1)
            assert retried.retry_time.ToNanoseconds() > 0

            await execute(stub, "complete_style_analysis", STYLE_INPUT)
            assert (await analytics(stub)).runs_analyzed == 4
    finally:
        await server.stop(grace_s=0.5)


async def test_the_window_counts_only_runs_created_within_it(stub: Stub) -> None:
    for _ in range(2):
        await execute(stub, "complete_style_analysis", STYLE_INPUT)
    boundary = time.time()
    await asyncio.sleep(0.2)
    await execute(stub, "complete_style_analysis", STYLE_INPUT)

    recent = await analytics(stub, window_s=time.time() - boundary - 0.1)
    assert (recent.runs_matched, recent.runs_analyzed) == (1, 1)
    assert recent.definitions[0].run_count == 1
    everything = await analytics(stub)
    assert (everything.runs_matched, everything.runs_analyzed) == (3, 3)


async def test_beyond_the_cap_the_newest_runs_are_analysed_and_the_response_says_so(
    orchestrator: OrchestratorServer, mesh: MockMesh, stub: Stub
) -> None:
    mesh["nlu"].faults.fail_next = 2  # the two oldest runs retry nlu once each
    for _ in range(4):
        await execute(stub, "complete_style_analysis", STYLE_INPUT)

    def workflow_of(name: str) -> CompiledWorkflow | None:
        try:
            return orchestrator.engine.definition(name, scope=EVERY_TENANT)
        except NotFound:
            return None

    capped = StoreAnalytics(
        orchestrator.store, workflow_of, AnalyticsRecorder(), max_analyzed_runs=2
    )
    newest = await capped.report(scope=EVERY_TENANT)
    assert (newest.runs_matched, newest.runs_analyzed, newest.max_analyzed_runs) == (4, 2, 2)
    assert newest.definitions[0].run_count == 2
    assert not advice_of(newest).retry_hot_spots  # the two retried runs are the oldest
    full = await analytics(stub)
    assert (full.runs_matched, full.runs_analyzed) == (4, 4)
    assert advice_of(full).retry_hot_spots[0].retry_count == 2
