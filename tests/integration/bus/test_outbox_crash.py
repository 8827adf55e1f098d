"""A crash between the store's commit and the publish loses nothing: `aura serve` with its
Redis down commits runs (and their outbox entries), is killed (SIGKILL), and once
Redis is back the restarted process publishes every entry; the triggers start one
recommendation per analysis."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.bus import BusConnection, EventBus
from tests.helpers import eventually
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute
from tests.redis_fixtures import RedisServer

pytestmark = pytest.mark.integration

ANALYSES = 3


def _unconfirmed(data_dir: Path) -> list[str]:
    db = sqlite3.connect(data_dir / "aura.db")
    try:
        rows = db.execute(
            "SELECT event_id FROM outbox WHERE confirmed_us IS NULL ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [str(row[0]) for row in rows]


async def test_entries_committed_before_a_kill_are_published_after_the_restart(
    mesh: MockMesh, tmp_path: Path, private_redis: RedisServer
) -> None:
    url = private_redis.url
    private_redis.kill()  # Redis down: the relay cannot publish anything
    data_dir = tmp_path / "data"
    process = OrchestratorProcess(mesh, data_dir, free_port())
    process.env["AURA_REDIS_URL"] = url
    await process.start()
    try:
        async with grpc.aio.insecure_channel(process.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
            analyses = [
                await execute(stub, "complete_style_analysis", STYLE_INPUT) for _ in range(ANALYSES)
            ]
        assert all(run.state == run_pb2.RUN_STATE_SUCCEEDED for run in analyses)
        await process.kill()
    finally:
        await process.terminate()
    bare = sorted(run.name.rpartition("/")[2] for run in analyses)
    pending = _unconfirmed(data_dir)
    assert sorted(e for e in pending if e.startswith("run-finished:")) == [
        f"run-finished:{r}" for r in bare
    ]

    private_redis.start()  # empty, as a restarted Redis is
    again = OrchestratorProcess(mesh, data_dir, free_port())
    again.env["AURA_REDIS_URL"] = url
    await again.start()
    bus = EventBus(BusConnection.from_url(url))
    try:

        async def finished_ids() -> list[str] | None:
            events, _ = await bus.recent("run.finished", 100)
            ids = sorted(e.event_id for e in events if e.key.endswith("complete_style_analysis"))
            return ids if len(ids) == ANALYSES else None

        assert await eventually(finished_ids, timeout_s=15) == [f"run-finished:{r}" for r in bare]
        async with grpc.aio.insecure_channel(again.address) as channel:
            stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)

            async def triggered() -> list[run_pb2.WorkflowRun] | None:
                answer = await stub.ListWorkflowRuns(
                    orchestrator_pb2.ListWorkflowRunsRequest(
                        filter='labels.aura_trigger = "after_style_analysis"'
                    )
                )
                runs = list(answer.workflow_runs)
                return runs if len(runs) >= ANALYSES else None

            runs = await eventually(triggered, timeout_s=20)
            assert len(runs) == ANALYSES  # one per analysis, none twice
        await eventually(lambda: not _unconfirmed(data_dir) or None, timeout_s=20)
    finally:
        await bus.close()
        await again.terminate()
