"""Queued runs start in queue order (priority, then FIFO), and a definition's
max_concurrent_runs is never exceeded while its queue drains."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from tests.helpers import eventually
from tests.integration.queue.queue_helpers import (
    define,
    most_at_once,
    orchestrator_with,
    run_spans,
    start,
    started_order,
    wait_final,
)

pytestmark = pytest.mark.integration


async def test_queued_runs_start_by_priority_and_in_arrival_order_within_one(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 30
    async with orchestrator_with(mesh, tmp_path, max_active_runs=1) as (server, stub):
        events: list[run_pb2.RunEvent] = []
        server.store.add_commit_listener(events.extend)
        definition = await define(stub, "ordered")
        blocker = await start(stub, definition)
        priorities = [0, 0, 5, -3, 5, 0, -3, 100]
        queued = [await start(stub, definition, priority=p) for p in priorities]
        await asyncio.gather(*(wait_final(stub, run.name) for run in [blocker, *queued]))

    assert {run.state for run in queued} == {run_pb2.RUN_STATE_QUEUED}
    by_priority = sorted(range(len(queued)), key=lambda i: (-priorities[i], i))
    expected = [blocker.name] + [queued[i].name for i in by_priority]
    assert started_order(events) == expected


async def test_a_definitions_concurrency_limit_holds_while_its_queue_drains(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 20
    async with orchestrator_with(mesh, tmp_path, max_active_runs=50) as (server, stub):
        events: list[run_pb2.RunEvent] = []
        server.store.add_commit_listener(events.extend)
        limited = await define(stub, "limited", max_concurrent_runs=3)
        free = await define(stub, "free")
        runs = await asyncio.gather(*(start(stub, limited if i % 2 else free) for i in range(120)))
        finished = await asyncio.gather(*(wait_final(stub, run.name) for run in runs))

    assert {run.state for run in finished} == {run_pb2.RUN_STATE_SUCCEEDED}
    spans = run_spans(events)
    limited_runs = {run.name for run in runs if run.workflow_definition == limited}
    assert len(limited_runs) == 60 and limited_runs <= spans.keys()
    assert most_at_once(spans[name] for name in limited_runs) == 3
    assert most_at_once(spans.values()) > 3, "the limit holds back only its own definition"


async def test_a_backlog_held_by_its_limit_does_not_make_other_runs_wait(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 300
    async with orchestrator_with(mesh, tmp_path, max_active_runs=10) as (server, stub):
        limited = await define(stub, "one_at_a_time", max_concurrent_runs=1)
        free = await define(stub, "unhindered")
        backlog = [await start(stub, limited) for _ in range(4)]
        # Held, and no claim pass in flight (a pass reserves the free slots while it
        # claims, and a start meanwhile queues behind it for that pass).
        await eventually(
            lambda: server.engine.queue.held_by_limits and server.engine.queue.reserved == 0
        )
        other = await start(stub, free)

    assert {run.state for run in backlog} == {run_pb2.RUN_STATE_QUEUED}
    assert other.state == run_pb2.RUN_STATE_PENDING, "it started at once, overtaking no one"
