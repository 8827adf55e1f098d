"""Helpers for resilience tests: one-step NLU definitions, an orchestrator with chosen
policies.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, workflow_pb2
from mock_services.mesh import MockMesh
from orchestrator.config import Settings
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import (
    Stub,
    settings_for,
)

NLU = "aura.nlu.v1.NluService"
ANALYZE_TEXT = f"{NLU}/AnalyzeText"


TEXT_INPUT = {
    "text": "a navy blazer for the office under 200 euros",
    "image_uri": "https://example.com/navy-blazer.jpg",
}


@contextlib.asynccontextmanager
async def orchestrator_with(
    mesh: MockMesh, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[OrchestratorServer, Stub]]:
    settings: Settings = dataclasses.replace(settings_for(mesh, tmp_path / "data"), **overrides)
    server = OrchestratorServer(settings)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield server, orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    finally:
        await server.stop(grace_s=0.2)


async def define(stub: Stub, name: str, steps: list[dict[str, Any]], **extra: Any) -> None:
    definition = json_format.ParseDict(
        {"name": f"workflowDefinitions/{name}", "steps": steps, **extra},
        workflow_pb2.WorkflowDefinition(),
    )
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition)
    )


def nlu_step(**options: Any) -> dict[str, Any]:
    return {
        "id": "nlu",
        "method": ANALYZE_TEXT,
        "inputs": {"text": {"ref": "input.text"}},
        **options,
    }
