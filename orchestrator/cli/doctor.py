"""`aura doctor`: checks a deployment in seconds, through its public API only.

The orchestrator's liveness and readiness (readiness is SERVING once the store is open and
runs are resumed, NOT_SERVING while draining), every backend endpoint's health and breaker
as the orchestrator sees them, and one smoke run of a seed definition, which also proves
the store takes writes (a run's creation and its end are committed before it answers).
Exit 0 only when every check passes, so it can gate a rollout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass

import grpc
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.text import Text

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from orchestrator.cli.progress import status_text
from orchestrator.security import client_channel

READINESS_NAME = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
SMOKE_DEFINITION = "complete_style_analysis"  # a seed that calls all five services
SMOKE_INPUT = {
    "user_id": "aura-doctor",
    "image_uri": "https://example.com/doctor.jpg",
    "text": "a navy blazer for the office, under 200 euros",
}
SERVING = orchestrator_pb2.SERVING_STATUS_SERVING
NOT_YET_KNOWN = (
    orchestrator_pb2.SERVING_STATUS_UNSPECIFIED,
    orchestrator_pb2.SERVING_STATUS_UNKNOWN,
)


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # PASS, FAIL or SKIP
    detail: str
    advice: str = ""


async def run_checks(address: str, timeout_s: float) -> list[Check]:
    async with client_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        live = await _health_check(health, "", "orchestrator liveness", address, timeout_s)
        if live.verdict != "PASS":
            skipped = ("orchestrator readiness", "backends", "smoke run")
            return [
                live,
                *(Check(name, "SKIP", "the orchestrator is not reachable") for name in skipped),
            ]
        checks = [
            live,
            await _health_check(
                health, READINESS_NAME, "orchestrator readiness", address, timeout_s
            ),
        ]
        stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        checks += await _backend_checks(stub, timeout_s)
        checks.append(await _smoke_run(stub, timeout_s))
        return checks


async def _health_check(
    health: health_pb2_grpc.HealthStub, service: str, name: str, address: str, timeout_s: float
) -> Check:
    try:
        response = await health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
        )
    except grpc.aio.AioRpcError as error:
        return Check(
            name,
            "FAIL",
            f"{address}: {error.code().name}",
            "start it with `aura up` or `aura serve`, or pass --address / AURA_ADDRESS",
        )
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status == health_pb2.HealthCheckResponse.SERVING:
        return Check(name, "PASS", f"{address} {status}")
    return Check(
        name,
        "FAIL",
        f"{address} {status}",
        "it is draining (SIGTERM) or still starting; if it stays so, its log says why "
        "(e.g. the store under AURA_DATA_DIR cannot be opened)",
    )


async def _backend_checks(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub, timeout_s: float
) -> list[Check]:
    """One check per service; waits (within the timeout) for endpoints not yet probed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = await stub.ListServices(
                orchestrator_pb2.ListServicesRequest(), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as error:
            return [
                Check("backends", "FAIL", f"ListServices: {error.code().name}: {error.details()}")
            ]
        endpoints = [e for s in response.services for e in s.endpoints]
        if all(e.serving_status not in NOT_YET_KNOWN for e in endpoints):
            break
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return [_backend_check(service) for service in response.services]


def _backend_check(service: orchestrator_pb2.ServiceStatus) -> Check:
    short = service.service.split(".")[1] if "." in service.service else service.service
    name = f"backend {short}"
    bad = []
    for endpoint in service.endpoints:
        serving = orchestrator_pb2.ServingStatus.Name(endpoint.serving_status)
        circuit = orchestrator_pb2.CircuitState.Name(endpoint.circuit_state)
        if (
            endpoint.serving_status != SERVING
            or endpoint.circuit_state != orchestrator_pb2.CIRCUIT_STATE_CLOSED
        ):
            bad.append(
                f"{endpoint.address} {serving.removeprefix('SERVING_STATUS_')}, "
                f"breaker {circuit.removeprefix('CIRCUIT_STATE_')}"
            )
    count = len(service.endpoints)
    if not bad:
        return Check(
            name, "PASS", f"{count} endpoint{'s' if count != 1 else ''} SERVING, breaker CLOSED"
        )
    return Check(
        name,
        "FAIL",
        "; ".join(bad),
        f"start the service at that address (`aura mesh` for the mocks) or correct "
        f"AURA_SERVICE_{short.upper()}_ADDRESSES; an open breaker closes after a probe succeeds",
    )


async def _smoke_run(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub, timeout_s: float
) -> Check:
    name = "smoke run"
    run_input = struct_pb2.Struct()
    run_input.update(SMOKE_INPUT)
    request = orchestrator_pb2.ExecuteWorkflowRunRequest(
        workflow_definition=SMOKE_DEFINITION, input=run_input, labels={"source": "aura-doctor"}
    )
    started = time.monotonic()
    try:
        response = await stub.ExecuteWorkflowRun(request, timeout=timeout_s)
    except grpc.aio.AioRpcError as error:
        return Check(
            name,
            "FAIL",
            f"{SMOKE_DEFINITION}: {error.code().name}: {error.details()}",
            "an INTERNAL or UNAVAILABLE answer before any step usually means the store "
            "cannot be written: see the orchestrator's log",
        )
    run = response.workflow_run
    took = f"{(time.monotonic() - started) * 1000:.0f} ms"
    state = run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_")
    if run.state == run_pb2.RUN_STATE_SUCCEEDED:
        return Check(name, "PASS", f"{SMOKE_DEFINITION} SUCCEEDED in {took}, stored as {run.name}")
    failed = [s.step_id for s in run.steps if s.state == run_pb2.STEP_STATE_FAILED]
    why = status_text(run.error) if run.HasField("error") else ""
    return Check(
        name,
        "FAIL",
        f"{run.name} {state} in {took}"
        + (f" (steps failed: {', '.join(failed)}; {why})" if failed else f" {why}"),
        f"`aura get {run.name}` shows each step's error; the backend checks name sick services",
    )


STYLE = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}


async def cmd_doctor(args: argparse.Namespace) -> int:
    checks = await run_checks(args.address, args.timeout)
    ok = all(check.verdict == "PASS" for check in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(c) for c in checks]}, indent=2))
        return 0 if ok else 1
    console = Console()
    width = max(len(check.name) for check in checks)
    for check in checks:
        line = Text.assemble(
            (f"{check.verdict:<4}", f"bold {STYLE[check.verdict]}"),
            "  ",
            check.name.ljust(width),
            "  ",
            check.detail,
        )
        console.print(line, soft_wrap=True)
        if check.advice:
            console.print(Text(f"      → {check.advice}", style="dim"), soft_wrap=True)
    console.print(
        "all checks passed" if ok else "some checks failed",
        style="bold green" if ok else "bold red",
    )
    return 0 if ok else 1
