"""Helpers for tests against a real orchestrator: its settings, run calls, struct inputs.

The fixtures (`mesh`, `orchestrator`, `stub`) are in tests/integration/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import struct_pb2

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.config import Settings

Stub = orchestrator_pb2_grpc.OrchestratorServiceStub

STYLE_INPUT = {
    "user_id": "ada",
    "image_uri": "https://example.com/navy-blazer.jpg",
    "text": "Business casual outfit for an office meeting, navy or grey, under 300 euros",
}


def struct(value: dict[str, object]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def settings_for(mesh: MockMesh, data_dir: Path) -> Settings:
    return Settings(
        port=0,
        data_dir=data_dir,
        service_addresses={service: [address] for service, address in mesh.addresses().items()},
        shutdown_grace_s=1.0,
    )


async def execute(
    stub: Stub, definition: str, run_input: dict[str, object], **kwargs: object
) -> run_pb2.WorkflowRun:
    response = await stub.ExecuteWorkflowRun(
        orchestrator_pb2.ExecuteWorkflowRunRequest(
            workflow_definition=definition,
            input=struct(run_input),
            **kwargs,  # type: ignore[arg-type]
        ),
        timeout=30,
    )
    return response.workflow_run


async def collect_events(stub: Stub, name: str, after_seq: int = 0) -> list[run_pb2.RunEvent]:
    call = stub.WatchWorkflowRun(
        orchestrator_pb2.WatchWorkflowRunRequest(name=name, after_seq=after_seq)
    )
    return [response.event async for response in call]


def step(run: run_pb2.WorkflowRun, step_id: str) -> run_pb2.StepRun:
    return next(s for s in run.steps if s.step_id == step_id)
