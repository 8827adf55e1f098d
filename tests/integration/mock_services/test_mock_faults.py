"""Faults a mock injects on purpose: latency, errors, hangs, slow starts, and what it counts."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2

from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services import FAULT_HEADER, IDEMPOTENCY_KEY_HEADER, FaultConfig, MockServer
from tests.helpers import eventually
from tests.integration.mock_helpers import (
    OpenChannel,
    StartMock,
    error_info,
    field_violations,
    health_stub,
    rich_status,
)

pytestmark = pytest.mark.integration
Stub = nlu_pb2_grpc.NluServiceStub
HELLO = nlu_pb2.AnalyzeTextRequest(text="a navy blazer")


async def nlu_with(
    start_mock: StartMock, open_channel: OpenChannel, faults: FaultConfig
) -> tuple[MockServer, Stub]:
    server = await start_mock("nlu", faults)
    return server, nlu_pb2_grpc.NluServiceStub(open_channel(server))


async def failure(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_configured_latency_delays_every_answer(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    _, stub = await nlu_with(start_mock, open_channel, FaultConfig(latency_ms=150, jitter_ms=20))
    started = time.monotonic()
    await stub.AnalyzeText(HELLO)
    assert 0.15 <= time.monotonic() - started < 1.0


async def test_a_header_adds_latency_to_one_call(nlu_stub: Stub) -> None:
    started = time.monotonic()
    await nlu_stub.AnalyzeText(HELLO, metadata=((FAULT_HEADER, "latency_ms=120"),))
    assert time.monotonic() - started >= 0.12
    started = time.monotonic()
    await nlu_stub.AnalyzeText(HELLO)
    assert time.monotonic() - started < 0.12


async def test_an_error_rate_of_one_fails_every_call_with_the_chosen_code(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    config = FaultConfig(error_rate=1.0, error_code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    server, stub = await nlu_with(start_mock, open_channel, config)
    for _ in range(3):
        error = await failure(stub.AnalyzeText(HELLO))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        info = error_info(error)
        assert info is not None and info.reason == "INJECTED_FAULT"
        assert info.metadata["method"] == "AnalyzeText"
    assert server.calls["AnalyzeText"] == 3


async def test_a_partial_error_rate_fails_some_calls(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    _, stub = await nlu_with(start_mock, open_channel, FaultConfig(error_rate=0.5))
    outcomes = await asyncio.gather(
        *(stub.AnalyzeText(HELLO) for _ in range(40)), return_exceptions=True
    )
    failed = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert 0 < len(failed) < 40
    assert {error.code() for error in failed} == {grpc.StatusCode.UNAVAILABLE}


async def test_a_header_fails_one_call_with_a_pushback(nlu_stub: Stub) -> None:
    header = ((FAULT_HEADER, "code=UNAVAILABLE; pushback_ms=300"),)
    error = await failure(nlu_stub.AnalyzeText(HELLO, metadata=header))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert ("grpc-retry-pushback-ms", "300") in tuple(error.trailing_metadata() or ())
    retry_infos = [
        d for d in rich_status(error).details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)
    ]
    assert len(retry_infos) == 1
    await nlu_stub.AnalyzeText(HELLO)  # the next call, without the header, is fine


async def test_a_header_can_switch_server_errors_off_for_one_call(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    _, stub = await nlu_with(start_mock, open_channel, FaultConfig(error_rate=1.0))
    await stub.AnalyzeText(HELLO, metadata=((FAULT_HEADER, "error_rate=0"),))


async def test_a_malformed_fault_header_is_invalid_argument(
    nlu_stub: Stub, nlu_server: MockServer
) -> None:
    error = await failure(nlu_stub.AnalyzeText(HELLO, metadata=((FAULT_HEADER, "code=SOMETIMES"),)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata.aura-fault" in field_violations(error)
    assert nlu_server.calls["AnalyzeText"] == 1


async def test_a_hanging_server_is_cut_off_by_the_client_deadline(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server, stub = await nlu_with(start_mock, open_channel, FaultConfig(hang=True))
    started = time.monotonic()
    error = await failure(stub.AnalyzeText(HELLO, timeout=0.3))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2
    await eventually(lambda: server.cancelled["AnalyzeText"] == 1 and server.in_flight == 0)


async def test_a_hang_requested_by_header_ends_when_the_client_cancels(
    nlu_stub: Stub, nlu_server: MockServer
) -> None:
    call = nlu_stub.AnalyzeText(HELLO, metadata=((FAULT_HEADER, "hang"),))
    await eventually(lambda: nlu_server.in_flight == 1)
    call.cancel()
    await eventually(lambda: nlu_server.cancelled["AnalyzeText"] == 1 and nlu_server.in_flight == 0)


async def test_fail_next_fails_exactly_that_many_calls(
    nlu_stub: Stub, nlu_server: MockServer
) -> None:
    nlu_server.faults.fail_next = 2
    nlu_server.faults.error_code = grpc.StatusCode.ABORTED
    codes = []
    for _ in range(3):
        try:
            await nlu_stub.AnalyzeText(HELLO)
            codes.append(grpc.StatusCode.OK)
        except grpc.aio.AioRpcError as error:
            codes.append(error.code())
    assert codes == [grpc.StatusCode.ABORTED, grpc.StatusCode.ABORTED, grpc.StatusCode.OK]


async def test_faults_can_be_changed_while_the_server_runs(
    nlu_stub: Stub, nlu_server: MockServer
) -> None:
    await nlu_stub.AnalyzeText(HELLO)
    nlu_server.faults.error_rate = 1.0
    assert (await failure(nlu_stub.AnalyzeText(HELLO))).code() == grpc.StatusCode.UNAVAILABLE
    nlu_server.faults = FaultConfig(error_rate=1.0, error_code=grpc.StatusCode.INTERNAL)
    assert (await failure(nlu_stub.AnalyzeText(HELLO))).code() == grpc.StatusCode.INTERNAL
    nlu_server.faults = FaultConfig()
    await nlu_stub.AnalyzeText(HELLO)


async def test_a_slow_start_refuses_calls_until_ready(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server, stub = await nlu_with(start_mock, open_channel, FaultConfig(slow_start_s=0.5))
    health = health_stub(open_channel(server))
    check = health_pb2.HealthCheckRequest(service=server.service_name)
    assert (await health.Check(check)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    error = await failure(stub.AnalyzeText(HELLO))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(error)
    assert info is not None and info.reason == "STARTING"

    async def serving() -> bool:
        response = await health.Check(check)
        return response.status == health_pb2.HealthCheckResponse.SERVING

    await eventually(serving, timeout_s=3)
    await stub.AnalyzeText(HELLO)


async def test_calls_metadata_and_deadlines_are_recorded(
    nlu_stub: Stub, nlu_server: MockServer
) -> None:
    assert nlu_server.calls["AnalyzeText"] == 0
    metadata = ((IDEMPOTENCY_KEY_HEADER, "run-1/understand"), ("x-trace", "abc"))
    await nlu_stub.AnalyzeText(HELLO, metadata=metadata, timeout=5)
    assert nlu_server.calls["AnalyzeText"] == 1
    assert nlu_server.last_idempotency_key == "run-1/understand"
    assert nlu_server.last_metadata["x-trace"] == "abc"
    assert (
        # gRPC's coarse timer can report a few ms more than the client's 5 s.
        nlu_server.last_time_remaining_s is not None and 0 < nlu_server.last_time_remaining_s <= 5.1
    )
    await nlu_stub.AnalyzeText(HELLO)
    assert nlu_server.last_time_remaining_s is None
    assert nlu_server.last_idempotency_key == "run-1/understand"  # the last one seen
    nlu_server.reset_counters()
    assert nlu_server.calls["AnalyzeText"] == 0 and nlu_server.last_idempotency_key is None


async def test_invalid_requests_are_counted_too(nlu_stub: Stub, nlu_server: MockServer) -> None:
    await failure(nlu_stub.AnalyzeText(nlu_pb2.AnalyzeTextRequest()))
    assert nlu_server.calls == {"AnalyzeText": 1}


async def test_faults_leave_health_truthful(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server, _ = await nlu_with(
        start_mock, open_channel, FaultConfig(error_rate=1.0, latency_ms=2000)
    )
    health = health_stub(open_channel(server))
    response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    assert server.calls == {}
