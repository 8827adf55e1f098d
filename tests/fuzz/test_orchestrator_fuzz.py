"""Fuzzing OrchestratorService against a real orchestrator on a real mock mesh.

Whatever a client sends, meaningful or garbage, as messages or as raw bytes, one at a time or
all at once: the answer is a clear status, never UNKNOWN and never INTERNAL (no fault is
injected here); errors carry ErrorInfo; nothing logs a traceback. Afterwards the server still
serves, every run it accepted has finished, and every history is gap-free.

The servers start once for the module; the last test checks what all the others left behind.
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from aura.orchestrator.v1 import orchestrator_pb2 as api
from aura.orchestrator.v1 import orchestrator_pb2_grpc, run_pb2, workflow_pb2
from mock_services import FaultConfig
from orchestrator.errors import ERROR_DOMAIN
from orchestrator.runs import parse_run_filter
from tests.fuzz import strategies as fz
from tests.fuzz.profiles import budget
from tests.fuzz.serving import RealServers
from tests.integration.orchestrator_fixtures import STYLE_INPUT, struct

pytestmark = [pytest.mark.fuzz, pytest.mark.integration, pytest.mark.timeout(300)]

SERVICE = api.DESCRIPTOR.services_by_name["OrchestratorService"]
METHODS = [method.name for method in SERVICE.methods]
CALL_TIMEOUT_S = 30
FINISH_BOUND_S = 60
SERVER_MAX_RECEIVE_BYTES = 4 * 1024 * 1024  # grpc's default; the orchestrator keeps it
CLIENT_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
FINAL_STATES = {
    run_pb2.RUN_STATE_SUCCEEDED,
    run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED,
    run_pb2.RUN_STATE_FAILED,
    run_pb2.RUN_STATE_CANCELLED,
}
# Codes a server answers bad or conflicting input with; anything else is a finding.
CLEAR_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
EMPTY_FILTER_FINGERPRINT = parse_run_filter("").fingerprint


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServers]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
    serving = RealServers(data_dir).start()
    try:
        yield serving
    finally:
        serving.stop()


@pytest.fixture(scope="module")
def channel(serving: RealServers) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(serving.address, options=CLIENT_OPTIONS) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    return orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


def invoke(stub: Any, method: str, request: Message) -> grpc.RpcError | None:
    """Calls `method`, reading a stream to its end; the error it ended with, None for OK."""
    try:
        call = getattr(stub, method)
        if SERVICE.methods_by_name[method].server_streaming:
            for _ in call(request, timeout=CALL_TIMEOUT_S):
                pass
        else:
            call(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        return error
    return None


def assert_clear(error: grpc.RpcError | None, what: Message | bytes, label: str = "") -> None:
    """OK, or a clear code with ErrorInfo of our domain; never UNKNOWN, INTERNAL or a hang.

    Only a request over the server's receive limit may be refused without details: grpc
    itself refuses it, before any handler runs.
    """
    if currently_in_test_context():
        event(f"{label} {'OK' if error is None else error.code().name}".strip())
    if error is None:
        return
    code = error.code()
    assert code in CLEAR_CODES, f"{label}: {code.name} ({error.details()!r}) for {_short(what)}"
    size = len(what) if isinstance(what, bytes) else what.ByteSize()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and size > SERVER_MAX_RECEIVE_BYTES:
        return
    status = _rich_status(error)
    assert status is not None, (
        f"{label}: {code.name} ({error.details()!r}) without google.rpc.Status for {_short(what)}"
    )
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert infos, f"{label}: {code.name} without ErrorInfo for {_short(what)}"
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert info.domain == ERROR_DOMAIN and info.reason


def _rich_status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The call's google.rpc.Status; None when it has none or one that contradicts the call."""
    try:
        return rpc_status.from_call(error)  # type: ignore[arg-type, no-any-return]
    except ValueError:
        return None


def assert_no_tracebacks(serving: RealServers, since: tuple[int, int] = (0, 0)) -> None:
    errors = serving.errors(since)
    assert not errors, errors[:5]


def _short(what: object) -> str:
    text = repr(what)
    return text if len(text) < 600 else text[:600] + f"... ({len(text)} chars)"


def _start(value: Any) -> api.StartWorkflowRunRequest:
    request = api.StartWorkflowRunRequest(workflow_definition="complete_style_analysis")
    fz.to_struct({**STYLE_INPUT, "edge": value}, request.input)
    return request


def _definition_with_constant(value: float) -> api.CreateWorkflowDefinitionRequest:
    source = workflow_pb2.FieldSource()
    source.value.number_value = value
    step = workflow_pb2.WorkflowStep(
        id="a", method="aura.nlu.v1.NluService/AnalyzeText", inputs={"text": source}
    )
    definition = workflow_pb2.WorkflowDefinition(name="workflowDefinitions/edge", steps=[step])
    return api.CreateWorkflowDefinitionRequest(workflow_definition=definition, validate_only=True)


def _cursor(create_time_us: int) -> str:
    cursor = {"v": 1, "t": create_time_us, "n": "workflowRuns/x", "f": EMPTY_FILTER_FINGERPRINT}
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).rstrip(b"=").decode()


# Edges every run of the suite tries, whatever the random examples happen to be.
EDGE_REQUESTS: dict[str, tuple[str, Message]] = {
    "input-nan": ("StartWorkflowRun", _start(float("nan"))),
    "input-infinity": ("StartWorkflowRun", _start(float("inf"))),
    "input-value-without-kind": ("StartWorkflowRun", _start(fz.NO_KIND)),
    "execute-input-minus-infinity": (
        "ExecuteWorkflowRun",
        api.ExecuteWorkflowRunRequest(
            workflow_definition="complete_style_analysis",
            input=fz.to_struct({**STYLE_INPUT, "edge": float("-inf")}, struct_pb2.Struct()),
        ),
    ),
    "timeout-int64-seconds": (
        "StartWorkflowRun",
        api.StartWorkflowRunRequest(
            workflow_definition="complete_style_analysis",
            input=struct(STYLE_INPUT),
            timeout=duration_pb2.Duration(seconds=fz.INT64_MAX),
        ),
    ),
    "definition-constant-nan": ("CreateWorkflowDefinition", _definition_with_constant(math.nan)),
    "definition-constant-infinity": (
        "CreateWorkflowDefinition",
        _definition_with_constant(math.inf),
    ),
    "page-token-time-2^63": (
        "ListWorkflowRuns",
        api.ListWorkflowRunsRequest(page_token=_cursor(2**63)),
    ),
    "run-name-20k": ("GetWorkflowRun", api.GetWorkflowRunRequest(name="x" * 20_000)),
    "definition-name-emoji": (
        "GetWorkflowDefinition",
        api.GetWorkflowDefinitionRequest(name="\U0001f60d" * 300),
    ),
    "watch-after-seq-int64": (
        "WatchWorkflowRun",
        api.WatchWorkflowRunRequest(name="workflowRuns/none", after_seq=fz.INT64_MAX),
    ),
    "filter-far-future-offset": (
        "ListWorkflowRuns",
        api.ListWorkflowRunsRequest(filter='create_time > "9999-12-31T23:59:59-23:59"'),
    ),
}


@pytest.mark.parametrize("edge", sorted(EDGE_REQUESTS))
def test_edge_requests_get_a_clear_answer(serving: RealServers, stub: Any, edge: str) -> None:
    method, request = EDGE_REQUESTS[edge]
    mark = serving.mark()
    assert_clear(invoke(stub, method, request), request, method)
    assert_no_tracebacks(serving, mark)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=budget(60))
@given(data=st.data())
def test_meaningful_requests_get_a_clear_answer(
    serving: RealServers, stub: Any, method: str, data: st.DataObject
) -> None:
    request = data.draw(fz.orchestrator_requests(method, EMPTY_FILTER_FINGERPRINT))
    mark = serving.mark()
    assert_clear(invoke(stub, method, request), request, method)
    assert_no_tracebacks(serving, mark)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=budget(25))
@given(data=st.data())
def test_garbage_shaped_requests_get_a_clear_answer(
    serving: RealServers, stub: Any, method: str, data: st.DataObject
) -> None:
    request = data.draw(fz.messages(SERVICE.methods_by_name[method].input_type))
    mark = serving.mark()
    assert_clear(invoke(stub, method, request), request, method)
    assert_no_tracebacks(serving, mark)


@settings(max_examples=budget(400))
@given(
    method=st.sampled_from(METHODS),
    payload=st.one_of(
        st.binary(max_size=256),
        st.sampled_from(METHODS)
        .flatmap(lambda m: fz.orchestrator_requests(m).map(lambda r: r.SerializeToString()))
        .flatmap(fz.mutated),
    ),
)
def test_raw_bytes_on_the_wire_get_a_clear_answer(
    serving: RealServers, channel: grpc.Channel, method: str, payload: bytes
) -> None:
    path = f"/{SERVICE.full_name}/{method}"
    mark = serving.mark()
    raw = {"request_serializer": None, "response_deserializer": None}
    try:
        if SERVICE.methods_by_name[method].server_streaming:
            for _ in channel.unary_stream(path, **raw)(payload, timeout=CALL_TIMEOUT_S):
                pass
        else:
            channel.unary_unary(path, **raw)(payload, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        assert_clear(error, payload, method)
    else:
        event(f"{method} OK")
    assert_no_tracebacks(serving, mark)


def _start(stub: Any, request: api.StartWorkflowRunRequest) -> str | grpc.RpcError:
    try:
        return str(stub.StartWorkflowRun(request, timeout=CALL_TIMEOUT_S).workflow_run.name)
    except grpc.RpcError as error:
        return error


@settings(max_examples=budget(20))
@given(
    request_id=st.text(min_size=1, max_size=40),
    variants=st.lists(
        st.tuples(st.sampled_from(fz.SEED_DEFINITIONS), st.sampled_from(["ada", "grace"])),
        min_size=2,
        max_size=8,
    ),
)
def test_concurrent_starts_with_one_request_id_make_one_run(
    serving: RealServers, stub: Any, request_id: str, variants: list[tuple[str, str]]
) -> None:
    """Same id and request: the same run for all; another request with that id: ALREADY_EXISTS."""
    request_id = f"concurrent-{time.monotonic_ns()}-{request_id}"
    requests = [
        api.StartWorkflowRunRequest(
            workflow_definition=definition,
            input=struct({**STYLE_INPUT, "user_id": user}),
            request_id=request_id,
        )
        for definition, user in variants
    ]
    mark = serving.mark()
    with futures.ThreadPoolExecutor(len(requests)) as pool:
        outcomes = list(pool.map(lambda r: _start(stub, r), requests))
    winners = {name for name in outcomes if isinstance(name, str)}
    assert len(winners) == 1, outcomes
    won = {v for v, o in zip(variants, outcomes, strict=True) if isinstance(o, str)}
    assert len(won) == 1, "requests that differ shared one run"
    for variant, outcome in zip(variants, outcomes, strict=True):
        if isinstance(outcome, grpc.RpcError):
            assert_clear(outcome, requests[variants.index(variant)], "StartWorkflowRun")
            assert outcome.code() == grpc.StatusCode.ALREADY_EXISTS
            assert variant not in won
        else:
            assert variant in won
    assert_no_tracebacks(serving, mark)


@settings(max_examples=budget(15))
@given(
    batch=st.lists(
        st.sampled_from(METHODS).flatmap(
            lambda m: fz.orchestrator_requests(m, EMPTY_FILTER_FINGERPRINT).map(lambda r: (m, r))
        ),
        min_size=4,
        max_size=16,
    )
)
def test_concurrent_mixed_calls_get_clear_answers(
    serving: RealServers, stub: Any, batch: list[tuple[str, Message]]
) -> None:
    mark = serving.mark()
    with futures.ThreadPoolExecutor(len(batch)) as pool:
        errors = list(pool.map(lambda item: invoke(stub, *item), batch))
    for (method, request), error in zip(batch, errors, strict=True):
        assert_clear(error, request, method)
    assert_no_tracebacks(serving, mark)


@settings(max_examples=budget(6))
@given(
    service=st.sampled_from(["image", "nlu", "style", "combination", "recommendation"]),
    error_rate=st.sampled_from([0.5, 1.0]),
    runs=st.integers(1, 4),
)
def test_injected_internal_faults_stay_inside_the_runs(
    serving: RealServers, stub: Any, service: str, error_rate: float, runs: int
) -> None:
    """A mock failing with INTERNAL fails steps, never the orchestrator's own answer."""
    mock = serving.mesh[service]
    mock.faults = FaultConfig(error_rate=error_rate, error_code=grpc.StatusCode.INTERNAL)
    try:
        for _ in range(runs):
            response = stub.ExecuteWorkflowRun(
                api.ExecuteWorkflowRunRequest(
                    workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
                ),
                timeout=CALL_TIMEOUT_S,
            )
            run = response.workflow_run
            event(run_pb2.RunState.Name(run.state))
            assert run.state in FINAL_STATES
            for step in run.steps:
                if step.error.code in (code_pb2.INTERNAL, code_pb2.UNKNOWN):
                    assert step.error.code == code_pb2.INTERNAL and _injected(step.error), step
    finally:
        mock.faults = FaultConfig()


def _injected(error: status_pb2.Status) -> bool:
    """Whether a step's error is one a mock injected on purpose."""
    return "injected fault" in error.message or any(
        b"INJECTED_FAULT" in detail.value for detail in error.details
    )


@pytest.mark.parametrize("depth", [29, 30, 31, 32])
def test_a_run_input_the_server_accepts_can_be_read_back(stub: Any, depth: int) -> None:
    """An input nested just under the decoder's limit is either refused or readable in full:
    the run's history wraps the input in two more messages than the request did."""
    request = api.StartWorkflowRunRequest(workflow_definition="complete_style_analysis")
    fz.to_struct({**STYLE_INPUT, "deep": fz.nested(depth)}, request.input)
    try:
        started = stub.StartWorkflowRun(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        return
    name = started.workflow_run.name
    _wait_finished(stub, name)
    watch = api.WatchWorkflowRunRequest(name=name)
    events = list(stub.WatchWorkflowRun(watch, timeout=CALL_TIMEOUT_S))
    assert events[0].event.run_created.input == request.input


def _all_runs(stub: Any) -> list[run_pb2.WorkflowRun]:
    runs: list[run_pb2.WorkflowRun] = []
    token = ""
    while True:
        page = stub.ListWorkflowRuns(
            api.ListWorkflowRunsRequest(page_size=1000, page_token=token), timeout=CALL_TIMEOUT_S
        )
        runs.extend(page.workflow_runs)
        token = page.next_page_token
        if not token:
            return runs


def _wait_finished(stub: Any, name: str) -> run_pb2.WorkflowRun:
    deadline = time.monotonic() + FINISH_BOUND_S
    while True:
        run = stub.GetWorkflowRun(api.GetWorkflowRunRequest(name=name), timeout=CALL_TIMEOUT_S)
        if run.workflow_run.state in FINAL_STATES or time.monotonic() > deadline:
            return run.workflow_run  # type: ignore[no-any-return]
        time.sleep(0.05)


def test_after_the_fuzzing_the_server_serves_and_every_run_finished_without_gaps(
    serving: RealServers, channel: grpc.Channel, stub: Any
) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE.full_name), timeout=CALL_TIMEOUT_S
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    good = stub.ExecuteWorkflowRun(
        api.ExecuteWorkflowRunRequest(
            workflow_definition="complete_style_analysis", input=struct(STYLE_INPUT)
        ),
        timeout=CALL_TIMEOUT_S,
    )
    assert good.workflow_run.state == run_pb2.RUN_STATE_SUCCEEDED

    runs = _all_runs(stub)
    assert len(runs) >= 1
    unfinished, gaps, unwatchable, internal = [], [], [], []
    for listed in runs:
        try:
            run = _wait_finished(stub, listed.name)
        except grpc.RpcError as error:
            unwatchable.append((listed.name, error.code().name, error.details()))
            continue
        if run.state not in FINAL_STATES:
            unfinished.append((run.name, run_pb2.RunState.Name(run.state)))
            continue
        try:
            events = [
                response.event
                for response in stub.WatchWorkflowRun(
                    api.WatchWorkflowRunRequest(name=run.name), timeout=CALL_TIMEOUT_S
                )
            ]
        except grpc.RpcError as error:
            unwatchable.append((run.name, error.code().name, error.details()))
            continue
        seqs = [event.seq for event in events]
        last = events[-1].WhichOneof("event") if events else None
        if seqs != list(range(1, len(events) + 1)) or last != "run_finished":
            gaps.append((run.name, seqs[:5], seqs[-5:], last))
        errors = [run.error, *(step.error for step in run.steps)]
        if any(
            e.code in (code_pb2.INTERNAL, code_pb2.UNKNOWN) and not _injected(e) for e in errors
        ):
            internal.append((run.name, [(e.code, e.message[:200]) for e in errors if e.code]))
    assert not unfinished, f"{len(unfinished)} runs not finished after {FINISH_BOUND_S}s"
    assert not unwatchable, unwatchable
    assert not gaps, gaps
    assert not internal, internal
    assert_no_tracebacks(serving)
