"""Two replicas in one process on one PostgreSQL store: a definition created on one is
usable on the other at once, and runs queued behind its concurrency limit drain through
both replicas without ever exceeding it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import Stub, collect_events
from tests.integration.queue.queue_helpers import (
    define,
    most_at_once,
    orchestrator_with,
    run_spans,
    start,
    wait_final,
)

pytestmark = pytest.mark.integration

LIMIT = 2


@contextlib.asynccontextmanager
async def two_replicas(
    mesh: MockMesh, url: str, tmp_path: Path
) -> AsyncIterator[list[tuple[OrchestratorServer, Stub]]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                orchestrator_with(
                    mesh, tmp_path / name, store_url=url, replica_id=name, replica_lease_s=2.0
                )
            )
            for name in ("a", "b")
        ]


async def test_a_definition_made_on_one_replica_runs_on_the_other_at_once(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    async with two_replicas(mesh, empty_pg_dsn, tmp_path) as [(_, a), (_, b)]:
        definition = await define(a, "made_on_a")

        run = await start(b, definition)  # b started before it existed

        assert (await wait_final(b, run.name)).state == run_pb2.RUN_STATE_SUCCEEDED

        async def listed_on_b() -> bool:
            response = await b.ListWorkflowDefinitions(
                orchestrator_pb2.ListWorkflowDefinitionsRequest(page_size=100)
            )
            return definition in {d.name for d in response.workflow_definitions}

        await eventually(listed_on_b, timeout_s=5)


async def test_runs_queued_behind_a_limit_drain_through_both_replicas_within_it(
    mesh: MockMesh, empty_pg_dsn: str, tmp_path: Path
) -> None:
    mesh["nlu"].faults.latency_ms = 150
    async with two_replicas(mesh, empty_pg_dsn, tmp_path) as [(_, a), (_, b)]:
        definition = await define(a, "limited", max_concurrent_runs=LIMIT)
        runs = await asyncio.gather(*(start((a, b)[i % 2], definition) for i in range(10)))

        finished = await asyncio.gather(*(wait_final(b, run.name) for run in runs))

        assert {run.state for run in finished} == {run_pb2.RUN_STATE_SUCCEEDED}
        events = [e for run in runs for e in await collect_events(a, run.name)]
        assert most_at_once(run_spans(events).values()) <= LIMIT
