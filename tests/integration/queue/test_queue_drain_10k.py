"""10,000 runs started against a capacity of 20 all wait in the queue and finish: none is
refused, none lost, and no more than the capacity execute at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import Stub
from tests.integration.queue.queue_helpers import (
    define,
    most_at_once,
    orchestrator_with,
    run_spans,
    start,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNS = 10_000
CAPACITY = 20
CLIENTS = 64  # Start calls in flight at once


async def all_runs(stub: Stub) -> list[run_pb2.WorkflowRun]:
    runs: list[run_pb2.WorkflowRun] = []
    token = ""
    while True:
        page = await stub.ListWorkflowRuns(
            orchestrator_pb2.ListWorkflowRunsRequest(page_size=1000, page_token=token)
        )
        runs += page.workflow_runs
        token = page.next_page_token
        if not token:
            return runs


async def test_ten_thousand_runs_drain_through_a_small_capacity_with_none_lost(
    mesh: MockMesh, tmp_path: Path
) -> None:
    async with orchestrator_with(mesh, tmp_path, max_active_runs=CAPACITY) as (server, stub):
        events: list[run_pb2.RunEvent] = []
        server.store.add_commit_listener(events.extend)
        definition = await define(stub, "bulk")
        refused: list[grpc.StatusCode] = []
        names: list[str] = []
        peak_queue = 0
        began = time.monotonic()

        async def client(count: int) -> None:
            nonlocal peak_queue
            for _ in range(count):
                try:
                    names.append((await start(stub, definition)).name)
                except grpc.aio.AioRpcError as error:
                    refused.append(error.code())
                peak_queue = max(peak_queue, server.engine.queued_run_count)

        await asyncio.gather(*(client(RUNS // CLIENTS) for _ in range(CLIENTS)))
        await asyncio.gather(client(RUNS - len(names) - len(refused)))
        submitted_s = time.monotonic() - began

        def finished() -> int:
            return sum(1 for event in events if event.HasField("run_finished"))

        await eventually(lambda: finished() == RUNS, timeout_s=300, interval_s=0.2)
        drained_s = time.monotonic() - began
        listed = await all_runs(stub)
        depth = await server.store.queue_depth()

    print(
        f"\n{RUNS} runs: submitted in {submitted_s:.1f}s, all finished after {drained_s:.1f}s "
        f"({RUNS / drained_s:.0f} runs/s); queue peak seen {peak_queue}"
    )
    assert refused == []
    assert len(set(names)) == RUNS
    assert {run.name for run in listed} == set(names), "none lost"
    assert {run.state for run in listed} == {run_pb2.RUN_STATE_SUCCEEDED}
    assert depth == 0
    assert peak_queue > CAPACITY, "the runs did wait in the queue"
    assert most_at_once(run_spans(events).values()) <= CAPACITY
