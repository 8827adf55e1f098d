"""Helpers for run queue tests: a one-step definition, starts, and what the events show."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2, workflow_pb2
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.store import RunStore
from tests.integration.orchestrator_helpers import Stub, settings_for, struct

#: The `open_store` fixture: opens a store on the test's database, the same database and
#: the same replica each call, so a second call after a close is that replica's restart.
StoreFactory = Callable[[], Awaitable[RunStore]]
ANALYZE_TEXT = "aura.nlu.v1.NluService/AnalyzeText"
TEXT_INPUT = {"text": "a navy blazer for the office"}


@contextlib.asynccontextmanager
async def orchestrator_with(
    mesh: MockMesh, data_dir: Path, **overrides: Any
) -> AsyncIterator[tuple[OrchestratorServer, Stub]]:
    """An orchestrator in process with `overrides` of its settings, and a client."""
    settings = dataclasses.replace(settings_for(mesh, data_dir), **overrides)
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield server, orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.5)


async def define(stub: Stub, definition_id: str, *, max_concurrent_runs: int = 0) -> str:
    """A one-step definition (NLU AnalyzeText of input.text); returns its name."""
    definition = json_format.ParseDict(
        {
            "name": f"workflowDefinitions/{definition_id}",
            "steps": [
                {"id": "nlu", "method": ANALYZE_TEXT, "inputs": {"text": {"ref": "input.text"}}}
            ],
            "max_concurrent_runs": max_concurrent_runs,
        },
        workflow_pb2.WorkflowDefinition(),
    )
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
    )
    return definition.name


async def start(stub: Stub, definition: str, **fields: Any) -> run_pb2.WorkflowRun:
    response = await stub.StartWorkflowRun(
        orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition=definition, input=struct(TEXT_INPUT), **fields
        )
    )
    return response.workflow_run


async def get(stub: Stub, name: str) -> run_pb2.WorkflowRun:
    response = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
    return response.workflow_run


async def wait_final(stub: Stub, name: str, timeout_s: float = 60) -> run_pb2.WorkflowRun:
    """Watches the run to its end (through the queue), then returns it."""
    call = stub.WatchWorkflowRun(orchestrator_pb2.WatchWorkflowRunRequest(name=name))

    async def drain() -> None:
        async for _ in call:
            pass

    await asyncio.wait_for(drain(), timeout_s)
    return await get(stub, name)


def run_spans(events: Iterable[run_pb2.RunEvent]) -> dict[str, tuple[int, int]]:
    """Run -> (run_started time, run_finished time) in ns, for runs that did both."""
    started: dict[str, int] = {}
    spans: dict[str, tuple[int, int]] = {}
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "run_started":
            started[event.run] = event.time.ToNanoseconds()
        elif kind == "run_finished" and event.run in started:
            spans[event.run] = (started[event.run], event.time.ToNanoseconds())
    return spans


def most_at_once(spans: Iterable[tuple[int, int]]) -> int:
    """The most spans open at one instant (a span ending as another starts: not both)."""
    spans = list(spans)
    edges = sorted(
        [(begin, 1) for begin, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda edge: (edge[0], edge[1]),
    )
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def started_order(events: Iterable[run_pb2.RunEvent]) -> list[str]:
    return [event.run for event in events if event.HasField("run_started")]
