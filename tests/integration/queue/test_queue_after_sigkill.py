"""Kill -9 with runs in the queue: after the restart every queued run starts (run_started,
never run_resumed), a run claimed but not started when the process died is resumed,
and the runs that were executing resume; all of them finish."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.store import SqliteRunStore
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.orchestrator_helpers import collect_events
from tests.integration.queue.queue_helpers import define, start, wait_final

pytestmark = pytest.mark.integration


def kinds(events: list[run_pb2.RunEvent]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


async def test_queued_and_claimed_runs_survive_a_kill_and_finish_after_the_restart(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 5000  # the first process never finishes a run
    port = free_port()
    first = OrchestratorProcess(mesh, tmp_path, port)
    first.env["AURA_MAX_ACTIVE_RUNS"] = "2"
    await first.start()
    try:
        async with grpc.aio.insecure_channel(first.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            definition = await define(stub, "survivor")
            runs = [await start(stub, definition, priority=i % 3) for i in range(10)]
    finally:
        await first.kill()
    executing = [run.name for run in runs if run.state != run_pb2.RUN_STATE_QUEUED]
    queued = [run.name for run in runs if run.state == run_pb2.RUN_STATE_QUEUED]
    assert len(executing) == 2 and len(queued) == 8

    # The moment between a claim's commit and the run's start: one run is claimed, as the
    # process would have claimed it, and not started.
    async with SqliteRunStore(tmp_path / "aura.db") as store:
        assert await store.queue_depth() == 8
        [claim] = await store.claim_queued(1, {})
    claimed = claim.run
    assert claimed in queued

    mesh["nlu"].faults.latency_ms = 20
    second = OrchestratorProcess(mesh, tmp_path, port)
    second.env["AURA_MAX_ACTIVE_RUNS"] = "2"
    await second.start()
    try:
        async with grpc.aio.insecure_channel(second.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            finished = await asyncio.gather(*(wait_final(stub, run.name) for run in runs))
            histories = {run.name: await collect_events(stub, run.name) for run in runs}
    finally:
        await second.terminate()

    assert {run.state for run in finished} == {run_pb2.RUN_STATE_SUCCEEDED}
    for name in executing:
        assert "run_resumed" in kinds(histories[name])
    resumed_claim = kinds(histories[claimed])
    assert resumed_claim[:3] == ["run_created", "run_started", "run_resumed"]
    started = histories[claimed][1]
    assert started.run_started.expire_time.ToNanoseconds() > started.time.ToNanoseconds(), (
        "the claimed run's timeout counts from its start after the restart"
    )
    for name in set(queued) - {claimed}:
        assert kinds(histories[name])[:2] == ["run_created", "run_started"]
        assert "run_resumed" not in kinds(histories[name]), "a queued run starts, fresh"
