"""`python -m benchmarks.floor_server --addresses JSON [--port N]`: the grpc.aio floor.

Why it exists. The orchestrator answers an inbound `ExecuteWorkflowRun` by making the five
backend calls of complete_style_analysis. This server does only that: its
`ExecuteWorkflowRun` makes the same five calls by hand with `LimitClient` (same wiring,
same channels, same timeouts) and answers a `WorkflowRun` with state SUCCEEDED. No engine,
no store, no durability, no events, no interceptors. Its CPU per run is therefore the cost of
one inbound and five outbound grpc.aio calls in one Python process: the least any Python
grpc.aio orchestrator of this DAG pays. The benchmark measures it next to the orchestrator
so every run shows how far a CPU target is above (or below) that bound.

The request's content is not read (the benchmark always sends the same input, which
`LimitClient` already holds). A failed backend call is answered with that call's status
code; a pipeline that returns no recommendations with INTERNAL.

It serves gRPC health for "" and `aura.orchestrator.v1.OrchestratorService` (SERVING once it
listens, so `benchmarks.procs.wait_serving` works), prints the port it listens on as one line
on stdout, and serves until SIGTERM or SIGINT. `benchmarks.procs.start_floor` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from benchmarks.workload import LimitClient

SERVICE_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name


class FloorServicer(orchestrator_pb2_grpc.OrchestratorServiceServicer):
    """`ExecuteWorkflowRun` = the five calls made by hand; every other method UNIMPLEMENTED."""

    def __init__(self, backends: LimitClient) -> None:
        self._backends = backends
        self._succeeded = orchestrator_pb2.ExecuteWorkflowRunResponse(
            workflow_run=run_pb2.WorkflowRun(state=run_pb2.RUN_STATE_SUCCEEDED)
        )

    async def ExecuteWorkflowRun(
        self, request: orchestrator_pb2.ExecuteWorkflowRunRequest, context: Any
    ) -> orchestrator_pb2.ExecuteWorkflowRunResponse:
        try:
            await self._backends.run()
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), f"floor: a backend call failed: {error.details()}")
        except RuntimeError as error:
            await context.abort(grpc.StatusCode.INTERNAL, f"floor: {error}")
        return self._succeeded


async def serve(addresses: dict[str, str], host: str = "127.0.0.1", port: int = 0) -> None:
    """Serves until SIGTERM or SIGINT; prints the bound port once health says SERVING."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    backends = LimitClient(addresses)
    server = grpc.aio.server(options=(("grpc.so_reuseport", 0),))
    orchestrator_pb2_grpc.add_OrchestratorServiceServicer_to_server(FloorServicer(backends), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    bound = int(server.add_insecure_port(f"{host}:{port}"))
    if bound == 0:
        raise RuntimeError(f"cannot listen on {host}:{port}")
    await server.start()
    try:
        for service in ("", SERVICE_NAME):
            await health.set(service, health_pb2.HealthCheckResponse.SERVING)
        print(bound, flush=True)
        await stop.wait()
    finally:
        await server.stop(0.2)
        await backends.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor_server", description=__doc__)
    parser.add_argument(
        "--addresses",
        required=True,
        help='JSON {"<full service name>": "host:port", ...}, as benchmarks.mesh_server prints',
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    addresses: dict[str, str] = json.loads(args.addresses)
    asyncio.run(serve(addresses, args.host, args.port))


if __name__ == "__main__":
    main()
