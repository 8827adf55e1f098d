"""The bus wired into the orchestrator (AURA_REDIS_URL): run events reach Redis through the
store's outbox, and a finished complete_style_analysis triggers exactly one
outfit_recommendation, on the SQLite store and on PostgreSQL; a restart against an
emptied Redis republishes what the outbox holds and still starts nothing twice."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.bus import BusConnection, EventBus
from orchestrator.config import Settings
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.bus.trigger_helpers import OUTFITS
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute, settings_for
from tests.postgres_fixtures import PostgresSchema
from tests.redis_fixtures import delete_prefix, require_redis

pytestmark = pytest.mark.integration

Serve = Callable[[], Awaitable[OrchestratorServer]]


@pytest.fixture(params=["sqlite", "postgres"])
async def serve(
    request: pytest.FixtureRequest,
    mesh: MockMesh,
    tmp_path: Path,
    bus: BusConnection,
    postgres_schemas: Callable[[], Awaitable[PostgresSchema]],
) -> AsyncIterator[Serve]:
    """Starts orchestrators with the bus on (the test's key prefix), one store between them."""
    settings: Settings = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"), redis_url=require_redis()
    )
    if request.param == "postgres":
        schema = await postgres_schemas()
        settings = dataclasses.replace(settings, store_url=schema.url, replica_id="replica-a")
    servers: list[OrchestratorServer] = []

    async def start() -> OrchestratorServer:
        server = OrchestratorServer(settings, bus_settings=bus.settings)
        await server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            await server.stop(grace_s=0.5)


async def _triggered(stub: Stub) -> list[run_pb2.WorkflowRun]:
    answer = await stub.ListWorkflowRuns(
        orchestrator_pb2.ListWorkflowRunsRequest(
            filter='labels.aura_trigger = "after_style_analysis"'
        )
    )
    return list(answer.workflow_runs)


async def _finished(stub: Stub, name: str) -> run_pb2.WorkflowRun | None:
    answer = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    run = answer.workflow_run
    return run if run.state == run_pb2.RUN_STATE_SUCCEEDED else None


async def _ids(bus: BusConnection, topic: str) -> list[str]:
    events, _ = await EventBus(bus).recent(topic, 100)
    return sorted(event.event_id for event in events)


async def test_a_finished_analysis_triggers_one_recommendation_through_the_outbox(
    serve: Serve, bus: BusConnection
) -> None:
    server = await serve()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        analysis = await execute(stub, "complete_style_analysis", STYLE_INPUT)
        assert analysis.state == run_pb2.RUN_STATE_SUCCEEDED
        (run,) = await eventually(lambda: _triggered(stub), timeout_s=15)
        assert run.workflow_definition == OUTFITS
        await eventually(lambda: _finished(stub, run.name), timeout_s=20)
        bare = [analysis.name.rpartition("/")[2], run.name.rpartition("/")[2]]

        async def both_finished() -> list[str] | None:
            found = await _ids(bus, "run.finished")
            return found if len(found) == 2 else None

        assert await eventually(both_finished, timeout_s=10) == sorted(
            f"run-finished:{r}" for r in bare
        )
        assert [r.name for r in await _triggered(stub)] == [run.name]

    async def all_confirmed() -> bool:
        return await server.store.pending(10) == []

    await eventually(all_confirmed, timeout_s=5)


async def test_a_restart_against_an_emptied_redis_republishes_and_starts_nothing_twice(
    serve: Serve, bus: BusConnection
) -> None:
    first = await serve()
    async with grpc.aio.insecure_channel(first.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        analysis = await execute(stub, "complete_style_analysis", STYLE_INPUT)
        (run,) = await eventually(lambda: _triggered(stub), timeout_s=15)
        await eventually(lambda: _finished(stub, run.name), timeout_s=20)
    await first.stop(grace_s=0.5)
    before = await _ids(bus, "run.created")
    assert len(before) == 2
    await delete_prefix(bus.commands, bus.settings.prefix)  # Redis emptied (restarted)

    second = await serve()

    async def republished() -> list[str] | None:
        found = await _ids(bus, "run.created")
        return found if found == before else None

    await eventually(republished, timeout_s=10)
    async with grpc.aio.insecure_channel(second.address) as channel:
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        await eventually(lambda: _ids(bus, "run.finished"), timeout_s=10)
        # The republished run.finished reaches the triggers again: the same run, no other.
        assert [r.name for r in await _triggered(stub)] == [run.name]
    assert analysis.name.rpartition("/")[2] in " ".join(await _ids(bus, "run.finished"))
