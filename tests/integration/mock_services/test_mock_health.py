"""Health, reflection and graceful shutdown of a mock server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services import FAULT_HEADER, FaultConfig, MockServer
from tests.helpers import eventually
from tests.integration.mock_helpers import OpenChannel, StartMock, health_stub

pytestmark = pytest.mark.integration
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HELLO = nlu_pb2.AnalyzeTextRequest(text="hello")


async def status_of(channel: grpc.aio.Channel, service: str) -> int:
    response = await health_stub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    status: int = response.status
    return status


async def statuses(watch: AsyncIterator[health_pb2.HealthCheckResponse], count: int) -> list[int]:
    seen = []
    async for response in watch:
        seen.append(response.status)
        if len(seen) == count:
            break
    return seen


@pytest.mark.parametrize("name", ["image", "nlu", "style", "combination", "recommendation"])
async def test_every_mock_reports_serving_for_liveness_and_its_service(
    start_mock: StartMock, open_channel: OpenChannel, name: str
) -> None:
    server = await start_mock(name)
    channel = open_channel(server)
    assert await status_of(channel, "") == SERVING
    assert await status_of(channel, server.service_name) == SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await status_of(channel, "aura.unknown.v1.NoService")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_set_serving_flips_check_and_watch(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("style")
    channel = open_channel(server)
    watch = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=server.service_name))
    assert await statuses(watch, 1) == [SERVING]
    await server.set_serving(False)
    assert await statuses(watch, 1) == [NOT_SERVING]
    assert await status_of(channel, "") == NOT_SERVING
    assert not server.serving
    await server.set_serving(True)
    assert await statuses(watch, 1) == [SERVING]
    watch.cancel()


async def test_not_serving_is_only_what_health_says(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("nlu", FaultConfig(not_serving=True))
    channel = open_channel(server)
    assert await status_of(channel, server.service_name) == NOT_SERVING
    await nlu_pb2_grpc.NluServiceStub(channel).AnalyzeText(HELLO)
    assert server.calls["AnalyzeText"] == 1


async def test_a_flapping_server_alternates_its_health(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("nlu", FaultConfig(health_flap_s=0.1))
    watch = health_stub(open_channel(server)).Watch(health_pb2.HealthCheckRequest())
    assert await asyncio.wait_for(statuses(watch, 3), timeout=5) == [SERVING, NOT_SERVING, SERVING]
    watch.cancel()


async def test_reflection_lists_the_service_health_and_reflection(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("recommendation")
    stub = reflection_pb2_grpc.ServerReflectionStub(open_channel(server))
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="aura.recommendation.v1.RecommendationEngineService.GetTrends"
        ),
    ]
    responses = [response async for response in stub.ServerReflectionInfo(iter(requests))]
    listed = {service.name for service in responses[0].list_services_response.service}
    assert listed == {
        "aura.recommendation.v1.RecommendationEngineService",
        "aura.transaction.v1.ParticipantService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert responses[1].HasField("file_descriptor_response")


async def test_shutdown_flips_health_first_and_lets_in_flight_calls_finish(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("nlu")
    channel = open_channel(server)
    watch = health_stub(channel).Watch(health_pb2.HealthCheckRequest(service=server.service_name))
    assert await statuses(watch, 1) == [SERVING]
    slow = nlu_pb2_grpc.NluServiceStub(channel).AnalyzeText(
        HELLO, metadata=((FAULT_HEADER, "latency_ms=300"),)
    )
    await eventually(lambda: server.in_flight == 1)

    stopping = asyncio.create_task(server.stop(grace_s=5))
    assert await statuses(watch, 1) == [NOT_SERVING]
    response = await slow
    assert response.style_keywords == [] and response.confidence > 0
    await stopping
    await server.stop()  # stopping again is harmless

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nlu_pb2_grpc.NluServiceStub(channel).AnalyzeText(HELLO, timeout=1)
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_the_grace_period_bounds_how_long_a_hung_call_delays_shutdown(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("nlu", FaultConfig(hang=True))
    call = nlu_pb2_grpc.NluServiceStub(open_channel(server)).AnalyzeText(HELLO)
    await eventually(lambda: server.in_flight == 1)
    started = time.monotonic()
    await server.stop(grace_s=0.2)
    assert time.monotonic() - started < 2
    with pytest.raises(grpc.aio.AioRpcError):
        await call


async def test_stop_is_idempotent_even_when_called_concurrently(start_mock: StartMock) -> None:
    server: MockServer = await start_mock("image")
    await asyncio.gather(server.stop(0.1), server.stop(0.1), server.stop())
    assert not server.serving
