"""A request that cannot be decoded is INVALID_ARGUMENT with ErrorInfo, on every method of every
server: the orchestrator's three services and each mock's. No traceback, one log line at most,
and the server goes on serving.

The bad bytes are made by hand (tests/wire_format.py): garbage, invalid UTF-8 in a string field,
and nesting past protobuf's recursion limit (a Struct 200 deep where the request has a Struct,
200 nested unknown groups where it has none).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2
from grpc_guard import UndecodableRequestInterceptor
from mock_services import MockMesh
from mock_services.registry import SERVICES
from orchestrator.errors import ERROR_DOMAIN
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import settings_for
from tests.wire_format import (
    GARBAGE,
    TOO_DEEP,
    BadRequest,
    bad_requests,
    call_raw,
    nested_struct,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

MOCK_DOMAIN = "mock.aura"
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
ORCHESTRATOR = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name

ORCHESTRATOR_CASES = list(bad_requests([ORCHESTRATOR, HEALTH, REFLECTION]))
MOCK_CASES = [
    (name, case)
    for name, spec in SERVICES.items()
    for case in bad_requests([spec.service_name, HEALTH, REFLECTION])
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh() -> AsyncIterator[MockMesh]:
    async with MockMesh() as mesh:
        yield mesh


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def orchestrator(
    mesh: MockMesh, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OrchestratorServer]:
    data_dir: Path = tmp_path_factory.mktemp("undecodable") / "data"
    async with OrchestratorServer(settings_for(mesh, data_dir)) as server:
        yield server


async def assert_rejected_cleanly(
    address: str, case: BadRequest, domain: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with grpc.aio.insecure_channel(address) as channel:
        error = await call_raw(channel, case.method, case.payload)
        assert error is not None, f"{case.id}: the server accepted undecodable bytes"
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
        assert case.method.input_type.full_name in (error.details() or "")
        status = rpc_status.from_call(error)
        assert status is not None, "no google.rpc.Status in the trailers"
        infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
        assert len(infos) == 1
        info = error_details_pb2.ErrorInfo()
        infos[0].Unpack(info)
        assert (info.reason, info.domain) == ("UNDECODABLE_REQUEST", domain)
        assert info.metadata["method"] == case.path

        check = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert check.status == health_pb2.HealthCheckResponse.SERVING

    tracebacks = [r for r in caplog.records if r.exc_info or r.exc_text or r.stack_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    about_it = [r for r in caplog.records if case.path in r.getMessage()]
    assert len(about_it) <= 1, [r.getMessage() for r in about_it]


@pytest.mark.parametrize("case", ORCHESTRATOR_CASES, ids=[c.id for c in ORCHESTRATOR_CASES])
async def test_the_orchestrator_rejects_undecodable_requests_with_invalid_argument(
    orchestrator: OrchestratorServer, case: BadRequest, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_rejected_cleanly(orchestrator.address, case, ERROR_DOMAIN, caplog)


@pytest.mark.parametrize(("mock", "case"), MOCK_CASES, ids=[f"{m}-{c.id}" for m, c in MOCK_CASES])
async def test_every_mock_rejects_undecodable_requests_with_invalid_argument(
    mesh: MockMesh, mock: str, case: BadRequest, caplog: pytest.LogCaptureFixture
) -> None:
    await assert_rejected_cleanly(mesh[mock].address, case, MOCK_DOMAIN, caplog)


# Every handler shape grpc.aio serves, behind the interceptor: bad bytes are rejected, good
# requests are answered as if the interceptor were not there.
async def _async_unary(request: struct_pb2.Struct, context: object) -> struct_pb2.Struct:
    return request


async def _async_generator(request: struct_pb2.Struct, context: object) -> AsyncIterator[Any]:
    yield request
    yield request


async def _writer(request: struct_pb2.Struct, context: Any) -> None:
    await context.write(request)


def _sync_unary(request: struct_pb2.Struct, context: object) -> struct_pb2.Struct:
    return request


def _sync_generator(request: struct_pb2.Struct, context: object) -> Iterator[struct_pb2.Struct]:
    yield request
    yield request


async def _async_client_stream(requests: AsyncIterator[Any], context: object) -> Any:
    return struct_pb2.Struct(
        fields={"count": struct_pb2.Value(number_value=len([r async for r in requests]))}
    )


async def _async_bidi(requests: AsyncIterator[Any], context: object) -> AsyncIterator[Any]:
    async for request in requests:
        yield request


SHAPES: dict[str, tuple[Callable[..., grpc.RpcMethodHandler], Callable[..., Any], int]] = {
    # name: (handler factory, behaviour, responses to a one-request call)
    "AsyncUnary": (grpc.unary_unary_rpc_method_handler, _async_unary, 1),
    "AsyncGenerator": (grpc.unary_stream_rpc_method_handler, _async_generator, 2),
    "Writer": (grpc.unary_stream_rpc_method_handler, _writer, 1),
    "SyncUnary": (grpc.unary_unary_rpc_method_handler, _sync_unary, 1),
    "SyncGenerator": (grpc.unary_stream_rpc_method_handler, _sync_generator, 2),
    "AsyncClientStream": (grpc.stream_unary_rpc_method_handler, _async_client_stream, 1),
    "AsyncBidi": (grpc.stream_stream_rpc_method_handler, _async_bidi, 1),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shapes_address() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[UndecodableRequestInterceptor("test.aura")])
    handlers = {
        name: factory(
            behaviour,
            request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString,
        )
        for name, (factory, behaviour, _) in SHAPES.items()
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("test.Shapes", handlers),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def _call_shape(address: str, name: str, payload: bytes) -> tuple[list[bytes], Any]:
    path = f"/test.Shapes/{name}"
    raw = {"request_serializer": None, "response_deserializer": None}
    responses: list[bytes] = []
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            factory = SHAPES[name][0]
            if factory is grpc.unary_unary_rpc_method_handler:
                responses.append(await channel.unary_unary(path, **raw)(payload, timeout=10))
            elif factory is grpc.unary_stream_rpc_method_handler:
                stream = channel.unary_stream(path, **raw)(payload, timeout=10)
                responses += [response async for response in stream]
            elif factory is grpc.stream_unary_rpc_method_handler:
                call = channel.stream_unary(path, **raw)(iter([payload]), timeout=10)
                responses.append(await call)
            else:
                stream = channel.stream_stream(path, **raw)(iter([payload]), timeout=10)
                responses += [response async for response in stream]
        except grpc.aio.AioRpcError as error:
            return responses, error
    return responses, None


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_every_handler_shape_rejects_bad_bytes_and_serves_good_ones(
    shapes_address: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    good = struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="v")})
    responses, error = await _call_shape(shapes_address, shape, good.SerializeToString())
    assert error is None, error
    assert len(responses) == SHAPES[shape][2]
    if shape != "AsyncClientStream":
        assert all(struct_pb2.Struct.FromString(r) == good for r in responses)

    for payload in (GARBAGE["length_past_the_end"], nested_struct(TOO_DEEP)):
        responses, error = await _call_shape(shapes_address, shape, payload)
        assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert responses == []
        status = rpc_status.from_call(error)
        assert status is not None
        info = error_details_pb2.ErrorInfo()
        status.details[0].Unpack(info)
        assert (info.reason, info.domain) == ("UNDECODABLE_REQUEST", "test.aura")
        assert info.metadata["message_type"] == "google.protobuf.Struct"
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
