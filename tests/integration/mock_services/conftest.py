"""Fixtures for tests of the mock services: real servers on port 0, real channels, stubs.

Ask for them by name (`nlu_stub`, `style_server`, `start_mock`, `open_channel`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from aura.combination.v1 import combination_pb2_grpc
from aura.image.v1 import image_pb2_grpc
from aura.nlu.v1 import nlu_pb2_grpc
from aura.recommendation.v1 import recommendation_pb2_grpc
from aura.style.v1 import style_pb2_grpc
from mock_services import FaultConfig, MockServer, start_mock_server
from tests.integration.mock_helpers import OpenChannel, StartMock


@pytest.fixture(name="start_mock")
async def start_mock_fixture() -> AsyncIterator[StartMock]:
    """Starts mock servers on free ports; stops them all after the test."""
    started: list[MockServer] = []

    async def start(name: str, faults: FaultConfig | None = None) -> MockServer:
        server = await start_mock_server(name, faults=faults)
        started.append(server)
        return server

    yield start
    await asyncio.gather(*(server.stop(grace_s=0) for server in started))


@pytest.fixture(name="open_channel")
async def open_channel_fixture() -> AsyncIterator[OpenChannel]:
    """Opens insecure channels to mock servers; closes them after the test."""
    channels: list[grpc.aio.Channel] = []

    def open_channel(server: MockServer) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(server.address)
        channels.append(channel)
        return channel

    yield open_channel
    for channel in channels:
        await channel.close()


@pytest.fixture(name="image_server")
async def image_server_fixture(start_mock: StartMock) -> MockServer:
    return await start_mock("image")


@pytest.fixture(name="nlu_server")
async def nlu_server_fixture(start_mock: StartMock) -> MockServer:
    return await start_mock("nlu")


@pytest.fixture(name="style_server")
async def style_server_fixture(start_mock: StartMock) -> MockServer:
    return await start_mock("style")


@pytest.fixture(name="combination_server")
async def combination_server_fixture(start_mock: StartMock) -> MockServer:
    return await start_mock("combination")


@pytest.fixture(name="recommendation_server")
async def recommendation_server_fixture(start_mock: StartMock) -> MockServer:
    return await start_mock("recommendation")


@pytest.fixture(name="image_stub")
def image_stub_fixture(
    image_server: MockServer, open_channel: OpenChannel
) -> image_pb2_grpc.ImageProcessingServiceStub:
    return image_pb2_grpc.ImageProcessingServiceStub(open_channel(image_server))


@pytest.fixture(name="nlu_stub")
def nlu_stub_fixture(
    nlu_server: MockServer, open_channel: OpenChannel
) -> nlu_pb2_grpc.NluServiceStub:
    return nlu_pb2_grpc.NluServiceStub(open_channel(nlu_server))


@pytest.fixture(name="style_stub")
def style_stub_fixture(
    style_server: MockServer, open_channel: OpenChannel
) -> style_pb2_grpc.StyleProfileServiceStub:
    return style_pb2_grpc.StyleProfileServiceStub(open_channel(style_server))


@pytest.fixture(name="combination_stub")
def combination_stub_fixture(
    combination_server: MockServer, open_channel: OpenChannel
) -> combination_pb2_grpc.CombinationEngineServiceStub:
    return combination_pb2_grpc.CombinationEngineServiceStub(open_channel(combination_server))


@pytest.fixture(name="recommendation_stub")
def recommendation_stub_fixture(
    recommendation_server: MockServer, open_channel: OpenChannel
) -> recommendation_pb2_grpc.RecommendationEngineServiceStub:
    return recommendation_pb2_grpc.RecommendationEngineServiceStub(
        open_channel(recommendation_server)
    )
