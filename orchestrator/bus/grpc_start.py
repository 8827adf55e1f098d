"""A trigger consumer's `start_run` over gRPC: StartWorkflowRun of an orchestrator, for a
consumer that runs outside the server process (or before the server wires its engine in).

StartWorkflowRun answers once the run's creation is committed, and is idempotent on
request_id, so it meets TriggerConsumer's contract: the event is acknowledged after it
returned. A refusal comes back as our error type, code and reason kept (so INVALID_ARGUMENT
still dead-letters at once and UNAVAILABLE is retried).
"""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.bus.trigger_consumer import StartRun, TriggeredRun
from orchestrator.errors import AuraError

DEFAULT_START_TIMEOUT_S = 10.0


def error_of_call(error: grpc.aio.AioRpcError) -> AuraError:
    """The orchestrator's refusal as an AuraError (from its google.rpc.Status when sent)."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    if status is not None:
        return AuraError.from_status(status)
    return AuraError(str(error.details() or error.code().name), code=error.code())


def grpc_start_run(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub,
    timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> StartRun:
    async def start_run(run: TriggeredRun) -> str:
        run_input = struct_pb2.Struct()
        run_input.update(run.input)
        request = orchestrator_pb2.StartWorkflowRunRequest(
            workflow_definition=run.workflow_definition,
            input=run_input,
            labels=run.labels,
            request_id=run.request_id,
        )
        try:
            response = await stub.StartWorkflowRun(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as error:
            raise error_of_call(error) from error
        return str(response.workflow_run.name)

    return start_run
