"""Beyond its capacity the orchestrator queues runs instead of refusing them; a full
queue answers RESOURCE_EXHAUSTED (QUEUE_FULL); queued runs show in Get, List and Watch,
keep their request_id, can be cancelled and are waited for by Execute."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.integration.mock_helpers import error_info, rich_status
from tests.integration.orchestrator_helpers import collect_events, struct
from tests.integration.queue.queue_helpers import (
    TEXT_INPUT,
    define,
    get,
    orchestrator_with,
    start,
    wait_final,
)

pytestmark = pytest.mark.integration

QUEUED = run_pb2.RUN_STATE_QUEUED
SUCCEEDED = run_pb2.RUN_STATE_SUCCEEDED


async def test_runs_beyond_the_cap_are_queued_shown_queued_and_all_finish(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 100
    async with orchestrator_with(mesh, tmp_path, max_active_runs=2) as (server, stub):
        definition = await define(stub, "capped")
        runs = [await start(stub, definition, labels={"batch": "b1"}) for _ in range(6)]

        assert [run.state for run in runs[2:]] == [QUEUED] * 4
        waiting = runs[-1].name
        assert (await get(stub, waiting)).state == QUEUED
        listed = await stub.ListWorkflowRuns(
            orchestrator_pb2.ListWorkflowRunsRequest(filter="state = QUEUED")
        )
        assert waiting in {run.name for run in listed.workflow_runs}
        assert all(run.state == QUEUED for run in listed.workflow_runs)
        assert server.engine.active_run_count <= 2
        assert server.metrics.registry.get_sample_value("aura_runs_queued") == 4

        finished = await asyncio.gather(*(wait_final(stub, run.name) for run in runs))
        events = await collect_events(stub, waiting)

    assert {run.state for run in finished} == {SUCCEEDED}
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[:2] == ["run_created", "run_started"], "a queued run starts, never resumes"
    assert "run_resumed" not in kinds
    assert events[0].run_created.queued


async def test_a_full_queue_answers_resource_exhausted_queue_full_with_retry_info(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 300
    async with orchestrator_with(mesh, tmp_path, max_active_runs=1, max_queued_runs=2) as (
        _,
        stub,
    ):
        definition = await define(stub, "tiny_queue")
        first = await start(stub, definition)
        queued = [await start(stub, definition) for _ in range(2)]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await start(stub, definition)

        assert first.state != QUEUED and [run.state for run in queued] == [QUEUED] * 2
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = error_info(raised.value)
        assert info is not None and info.reason == "QUEUE_FULL"
        retry = error_details_pb2.RetryInfo.DESCRIPTOR
        assert any(detail.Is(retry) for detail in rich_status(raised.value).details)
        await wait_final(stub, queued[0].name)
        again = await start(stub, definition)  # room again once the queue moved
        assert again.state == QUEUED


async def test_a_queued_run_keeps_its_request_id_and_execute_waits_through_the_queue(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 100
    async with orchestrator_with(mesh, tmp_path, max_active_runs=1) as (_, stub):
        definition = await define(stub, "idempotent")
        await start(stub, definition)
        queued = await start(stub, definition, request_id="req-1", priority=5)
        again = await start(stub, definition, request_id="req-1", priority=5)
        executed = await stub.ExecuteWorkflowRun(
            orchestrator_pb2.ExecuteWorkflowRunRequest(
                workflow_definition=definition,
                input=struct(TEXT_INPUT),
                request_id="req-1",
                priority=5,
            ),
            timeout=30,
        )

    assert queued.state == QUEUED and queued.priority == 5
    assert again.name == queued.name
    assert executed.workflow_run.name == queued.name
    assert executed.workflow_run.state == SUCCEEDED


async def test_cancelling_a_queued_run_ends_it_cancelled_without_starting_it(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 300
    async with orchestrator_with(mesh, tmp_path, max_active_runs=1) as (server, stub):
        definition = await define(stub, "cancel_me")
        busy = await start(stub, definition)
        queued = await start(stub, definition)
        watch = asyncio.create_task(collect_events(stub, queued.name))
        await eventually(lambda: server.hub.subscriber_count(queued.name) > 0)

        cancelled = await stub.CancelWorkflowRun(
            orchestrator_pb2.CancelWorkflowRunRequest(name=queued.name, reason="not needed")
        )
        events = await asyncio.wait_for(watch, 10)
        busy_done = await wait_final(stub, busy.name)

    run = cancelled.workflow_run
    assert run.state == run_pb2.RUN_STATE_CANCELLED
    assert "not needed" in run.error.message
    assert {step.state for step in run.steps} == {run_pb2.STEP_STATE_CANCELLED}
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "run_created" and kinds[-1] == "run_finished"
    assert "run_started" not in kinds and "step_started" not in kinds
    assert busy_done.state == SUCCEEDED


async def test_an_execute_waiting_in_the_queue_ends_unavailable_on_shutdown_and_the_run_stays(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 2000

    async with orchestrator_with(mesh, tmp_path, max_active_runs=1) as (server, stub):
        definition = await define(stub, "shutdown")
        await start(stub, definition)

        async def execute() -> None:
            await stub.ExecuteWorkflowRun(
                orchestrator_pb2.ExecuteWorkflowRunRequest(
                    workflow_definition=definition, input=struct(TEXT_INPUT)
                ),
                timeout=30,
            )

        waiting = asyncio.create_task(execute())
        await eventually(lambda: server.engine.queued_run_count == 1)
        await server.stop(grace_s=2)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await waiting

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(raised.value)
    assert info is not None and info.reason == "SHUTTING_DOWN"
    async with SqliteRunStore(tmp_path / "aura.db") as store:
        assert await store.queue_depth() == 1, "the queued run waits for the next start"


@pytest.mark.parametrize("priority", [-101, 101])
async def test_a_priority_out_of_range_is_invalid_argument(
    mesh: MockMesh, tmp_path: Path, priority: int
) -> None:
    async with orchestrator_with(mesh, tmp_path) as (_, stub):
        definition = await define(stub, "ranked")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await start(stub, definition, priority=priority)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "priority" in (raised.value.details() or "")


async def test_many_executes_beyond_the_cap_each_return_their_finished_run(
    mesh: MockMesh, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 10
    async with orchestrator_with(mesh, tmp_path, max_active_runs=5) as (server, stub):
        definition = await define(stub, "many")

        async def execute(index: int) -> run_pb2.WorkflowRun:
            response = await stub.ExecuteWorkflowRun(
                orchestrator_pb2.ExecuteWorkflowRunRequest(
                    workflow_definition=definition,
                    input=struct(TEXT_INPUT),
                    labels={"i": str(index)},
                ),
                timeout=60,
            )
            return response.workflow_run

        runs = await asyncio.gather(*(execute(i) for i in range(200)))
        left = server.engine.queued_run_count

    assert {run.state for run in runs} == {SUCCEEDED}
    assert sorted(int(run.labels["i"]) for run in runs) == list(range(200))
    assert left == 0
