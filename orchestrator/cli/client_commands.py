"""`aura run | watch | get | list | cancel | definitions | services | analytics`: gRPC clients."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import grpc
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.console import Console
from rich.text import Text

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from orchestrator.cli.analytics_view import print_analytics
from orchestrator.cli.progress import ProgressPrinter, status_text
from orchestrator.cli.tables import print_table
from orchestrator.names import DEFINITION_PREFIX
from orchestrator.security import client_channel
from orchestrator.workflows import MethodRegistry

DEFAULT_ADDRESS = os.environ.get("AURA_ADDRESS", "127.0.0.1:8006")
Stub = orchestrator_pb2_grpc.OrchestratorServiceStub
T = TypeVar("T")


class CliError(Exception):
    """Printed without a traceback; exit status 1."""


def _stub(address: str) -> tuple[grpc.aio.Channel, orchestrator_pb2_grpc.OrchestratorServiceStub]:
    channel = client_channel(address)
    return channel, orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


async def _ask(address: str, call: Callable[[Stub], Awaitable[T]]) -> T:
    """One unary call on a channel of its own, closed after the answer."""
    channel, stub = _stub(address)
    async with channel:
        return await call(stub)


def describe_rpc_error(error: grpc.aio.AioRpcError, address: str = "") -> str:
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    if error.code() == grpc.StatusCode.UNAVAILABLE and status is None:
        # Not an answer of the orchestrator (those carry ErrorInfo): nothing answered.
        where = address or DEFAULT_ADDRESS
        return (
            f"aura: no orchestrator answers at {where} (UNAVAILABLE).\n"
            "  Start one with `aura up` (mesh + orchestrator) or `aura serve`, or point\n"
            "  --address / AURA_ADDRESS at a running one; `aura doctor` checks a deployment."
        )
    lines = [f"{error.code().name}: {error.details()}"]
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  reason: {info.reason}")
    return "\n".join(lines)


def to_json(message: Message) -> str:
    MethodRegistry.default()  # registers every service type, so outputs (Any) decode
    return json_format.MessageToJson(message, indent=2)


def print_json(message: Message) -> None:
    """JSON alone on stdout, for `| jq`."""
    sys.stdout.write(to_json(message) + "\n")
    sys.stdout.flush()


def parse_input(text: str) -> struct_pb2.Struct:
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as handle:
            text = handle.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"--input is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CliError("--input must be a JSON object")
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--label must be KEY=VALUE, not {pair!r}")
        labels[key] = value
    return labels


async def stream_run(
    address: str,
    definition: str,
    run_input: struct_pb2.Struct,
    *,
    labels: dict[str, str] | None = None,
    request_id: str = "",
    timeout_s: float | None = None,
    priority: int = 0,
    console: Console | None = None,
) -> run_pb2.WorkflowRun:
    """Starts a run, shows its live progress, then returns the finished run."""
    console = console or Console()
    channel, stub = _stub(address)
    async with channel:
        request = orchestrator_pb2.StreamWorkflowRunRequest(
            workflow_definition=definition,
            input=run_input,
            labels=labels or {},
            request_id=request_id,
            priority=priority,
        )
        if timeout_s is not None:
            request.timeout.FromNanoseconds(int(timeout_s * 1e9))
        name = ""
        try:
            with ProgressPrinter(console) as printer:
                async for response in stub.StreamWorkflowRun(request):
                    name = response.event.run
                    printer.show(response.event)
        except asyncio.CancelledError:  # Ctrl-C: the run itself goes on in the orchestrator
            if name:
                console.print(
                    f"interrupted; {name} goes on: `aura watch {name}` follows it, "
                    f"`aura cancel {name}` stops it",
                    soft_wrap=True,
                    highlight=False,
                )
            raise
        got = await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=name))
        result: run_pb2.WorkflowRun = got.workflow_run
        return result


FINISHED_OK = (run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED)


def print_result(console: Console, run: run_pb2.WorkflowRun) -> None:
    """The last step's output of a run that succeeded (or partly); for a failed or
    cancelled run, why, and no step output: it is not the run's result."""
    state = run_pb2.RunState.Name(run.state)
    if run.state in FINISHED_OK:
        MethodRegistry.default()
        last = [s for s in run.steps if s.state == run_pb2.STEP_STATE_SUCCEEDED]
        if last:
            console.print(
                f"[bold]result of step {last[-1].step_id}[/bold] "
                f"(all outputs: aura get {run.name})",
                soft_wrap=True,
            )
            console.print_json(json_format.MessageToJson(last[-1].output))
        console.print(f"[bold]{run.name}[/bold] {state}", soft_wrap=True)
        return
    why = f": {status_text(run.error)}" if run.HasField("error") else ""
    console.print(Text.assemble((run.name, "bold"), f" {state}{why}"), soft_wrap=True)
    console.print(f"every step's state and error: aura get {run.name}", soft_wrap=True)


async def cmd_run(args: argparse.Namespace) -> int:
    console = Console()
    # With --json, stdout carries the JSON alone; the progress goes to stderr.
    progress = Console(stderr=True) if args.json else console
    run = await stream_run(
        args.address,
        args.definition,
        parse_input(args.input),
        labels=parse_labels(args.label),
        request_id=args.request_id,
        timeout_s=args.timeout,
        priority=args.priority,
        console=progress,
    )
    if args.json:
        print_json(run)
    else:
        print_result(console, run)
    return 0 if run.state in FINISHED_OK else 2


async def cmd_watch(args: argparse.Namespace) -> int:
    console = Console()
    channel, stub = _stub(args.address)
    async with channel:
        request = orchestrator_pb2.WatchWorkflowRunRequest(name=args.run, after_seq=args.after_seq)
        with ProgressPrinter(console) as printer:
            async for response in stub.WatchWorkflowRun(request):
                printer.show(response.event)
    return 0


async def cmd_get(args: argparse.Namespace) -> int:
    request = orchestrator_pb2.GetWorkflowRunRequest(
        name=args.run, view=orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL
    )
    response = await _ask(args.address, lambda stub: stub.GetWorkflowRun(request))
    Console().print_json(to_json(response.workflow_run))
    return 0


async def cmd_list(args: argparse.Namespace) -> int:
    request = orchestrator_pb2.ListWorkflowRunsRequest(
        page_size=args.page_size,
        page_token=args.page_token,
        filter=args.filter,
        view=orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC,  # no history read per run
    )
    response = await _ask(args.address, lambda stub: stub.ListWorkflowRuns(request))
    if args.json:
        print_json(response)
        return 0
    rows = [
        (
            run.name,
            run.workflow_definition.removeprefix(DEFINITION_PREFIX),
            run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_"),
            _utc(run.create_time),
            _utc(run.end_time) if run.HasField("end_time") else "-",
        )
        for run in response.workflow_runs
    ]
    console = Console()
    print_table(console, ("run", "definition", "state", "created", "ended"), rows)
    if response.next_page_token:
        console.print(f"next page: --page-token {response.next_page_token}", soft_wrap=True)
    return 0


def _utc(time: timestamp_pb2.Timestamp) -> str:
    return time.ToDatetime().isoformat(timespec="seconds") + "Z"


async def cmd_cancel(args: argparse.Namespace) -> int:
    request = orchestrator_pb2.CancelWorkflowRunRequest(name=args.run, reason=args.reason)
    response = await _ask(args.address, lambda stub: stub.CancelWorkflowRun(request))
    print(f"{response.workflow_run.name} {run_pb2.RunState.Name(response.workflow_run.state)}")
    return 0


async def cmd_definitions(args: argparse.Namespace) -> int:
    channel, stub = _stub(args.address)
    console = Console()
    async with channel:
        if args.name:
            got = await stub.GetWorkflowDefinition(
                orchestrator_pb2.GetWorkflowDefinitionRequest(name=args.name)
            )
            console.print_json(to_json(got.workflow_definition))
            return 0
        listed = await stub.ListWorkflowDefinitions(
            orchestrator_pb2.ListWorkflowDefinitionsRequest()
        )
    rows = [
        (
            definition.name.removeprefix(DEFINITION_PREFIX),
            str(len(definition.steps)),
            definition.description.strip().split("\n")[0],
        )
        for definition in listed.workflow_definitions
    ]
    print_table(console, ("definition", "steps", "description"), rows)
    return 0


async def cmd_services(args: argparse.Namespace) -> int:
    request = orchestrator_pb2.ListServicesRequest()
    response = await _ask(args.address, lambda stub: stub.ListServices(request))
    if args.json:
        print_json(response)
        return 0
    rows = []
    for service in response.services:
        endpoints = ", ".join(
            f"{e.address} {_serving_name(e.serving_status)} {_circuit_name(e.circuit_state)}"
            for e in service.endpoints
        )
        rows.append(
            (
                service.service.split(".")[1],
                endpoints,
                f"{_circuit_name(service.circuit_state)} ({service.circuit_trips} trips)",
                f"{service.in_flight}/{service.max_in_flight}",
                str(service.call_count),
                str(service.error_count),
                f"{service.latency_p50.ToNanoseconds() / 1e6:.1f} ms",
                f"{service.latency_p99.ToNanoseconds() / 1e6:.1f} ms",
            )
        )
    headers = ("service", "endpoints", "breaker", "in flight", "calls", "errors", "p50", "p99")
    console = Console()
    print_table(console, headers, rows)
    replicas = [
        (
            f"{replica.id}{' (this one)' if replica.answering else ''}",
            replica.address or "-",
            "alive" if replica.alive else "LOST",
            f"{replica.heartbeat_age.ToNanoseconds() / 1e9:.1f} s",
            str(replica.owned_runs),
        )
        for replica in response.replicas
    ]
    if replicas:
        print_table(console, ("replica", "address", "state", "heartbeat", "owned runs"), replicas)
    views = [
        (
            service.service.split(".")[1],
            endpoint.address,
            view.replica,
            _serving_name(view.serving_status),
            _circuit_name(view.circuit_state),
        )
        for service in response.services
        for endpoint in service.endpoints
        for view in endpoint.replica_views
    ]
    if views:  # the event bus is on: every replica's view of each endpoint
        print_table(console, ("service", "endpoint", "seen by", "health", "breaker"), views)
    console.print(f"queued runs: {response.queued_runs}")
    return 0


def _circuit_name(state: int) -> str:
    name = orchestrator_pb2.CircuitState.Name(state)  # type: ignore[arg-type]
    return name.removeprefix("CIRCUIT_STATE_")


def _serving_name(status: int) -> str:
    name = orchestrator_pb2.ServingStatus.Name(status)  # type: ignore[arg-type]
    return name.removeprefix("SERVING_STATUS_")


async def cmd_analytics(args: argparse.Namespace) -> int:
    request = orchestrator_pb2.GetAnalyticsRequest(workflow_definition=args.definition)
    window_s = args.window or args.window_s
    if window_s:
        request.window.FromNanoseconds(int(window_s * 1e9))
    response = await _ask(args.address, lambda stub: stub.GetAnalytics(request))
    if args.json:
        print_json(response)
    else:
        print_analytics(Console(), response)
    return 0


async def cmd_delete(args: argparse.Namespace) -> int:
    """Deletes a finished run and its history (DeleteWorkflowRun)."""
    request = orchestrator_pb2.DeleteWorkflowRunRequest(name=args.run)
    await _ask(args.address, lambda stub: stub.DeleteWorkflowRun(request))
    print(f"{args.run} deleted")
    return 0
