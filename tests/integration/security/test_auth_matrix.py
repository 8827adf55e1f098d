"""Bearer-token authentication and permissions, every RPC over a real mutual-TLS connection.

Each method of OrchestratorService, EventService and reflection (unary and streaming alike)
is called with: no token, a token signed by another key, an expired one, one for another
audience or issuer (UNAUTHENTICATED); a valid token without the method's permission
(PERMISSION_DENIED); and a token with exactly the permission (past authentication: whatever
the handler answers, never one of those two). Health answers SERVING with no token at all.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from aura.events.v1 import events_pb2
from aura.orchestrator.v1 import orchestrator_pb2
from mock_services.mesh import MockMesh
from orchestrator.api import METHOD_PERMISSIONS
from orchestrator.security import (
    Permission,
    issue_token,
    make_signing_key,
)
from orchestrator.server import OrchestratorServer
from tests.integration.security.secured_settings import secured_settings

pytestmark = pytest.mark.integration

ISSUER, AUDIENCE = "aura", "aura-orchestrator"
SERVICES = (
    orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"],
    events_pb2.DESCRIPTOR.services_by_name["EventService"],
)
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@dataclass(frozen=True)
class Method:
    path: str
    request_type: type
    server_streaming: bool


def _methods() -> list[Method]:
    found = []
    for service in SERVICES:
        for method in service.methods:
            request = message_factory.GetMessageClass(
                descriptor_pool.Default().FindMessageTypeByName(method.input_type.full_name)
            )
            found.append(
                Method(f"/{service.full_name}/{method.name}", request, method.server_streaming)
            )
    return found


METHODS = _methods()


@dataclass
class Secured:
    address: str
    credentials: grpc.ChannelCredentials
    signing_key: Path
    other_key: Path

    def token(self, *permissions: Permission, key: Path | None = None, **claims: object) -> str:
        fields: dict[str, object] = {
            "tenant": "acme",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "valid_s": 600.0,
        } | claims
        return issue_token(key or self.signing_key, permissions=permissions, **fields)  # type: ignore[arg-type]

    async def call(self, method: Method, token: str | None) -> grpc.StatusCode:
        """The status `method` answers an empty request with, sent with `token`."""
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        async with grpc.aio.secure_channel(self.address, self.credentials) as channel:
            if method.server_streaming:
                stream = channel.unary_stream(
                    method.path,
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=lambda b: b,
                )
                call = stream(method.request_type(), metadata=metadata, timeout=5)
                try:
                    async for _ in call:
                        break  # a first answer: past authentication
                except grpc.aio.AioRpcError as error:
                    return error.code()
                call.cancel()
                return grpc.StatusCode.OK
            unary = channel.unary_unary(
                method.path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=lambda b: b,
            )
            try:
                await unary(method.request_type(), metadata=metadata, timeout=5)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK


@pytest.fixture(name="keys", scope="module")
def keys_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Our signing key pair (private, public) and another issuer's private key."""
    base = tmp_path_factory.mktemp("auth")
    signing, public = make_signing_key(base / "ours")
    other, _ = make_signing_key(base / "theirs")
    return signing, public, other


@pytest.fixture(name="server")
async def server_fixture(
    mesh: MockMesh, tmp_path: Path, keys: tuple[Path, Path, Path]
) -> AsyncIterator[Secured]:
    signing, public, other = keys
    secured = secured_settings(mesh, tmp_path, public)
    server = OrchestratorServer(secured.settings)
    await server.start()
    try:
        yield Secured(server.address, secured.credentials, signing, other)
    finally:
        await server.stop(0.5)


def test_the_permission_table_names_every_method_of_the_api() -> None:
    assert {m.path for m in METHODS} | {REFLECTION} <= set(METHOD_PERMISSIONS)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.path.rsplit("/", 1)[1])
async def test_every_method_refuses_calls_without_a_valid_token(
    server: Secured, method: Method
) -> None:
    needed = METHOD_PERMISSIONS[method.path]
    refused = {
        "no token": None,
        "another key's signature": server.token(needed, key=server.other_key),
        "expired": server.token(needed, valid_s=-120.0),
        "another audience": server.token(needed, audience="someone-else"),
        "another issuer": server.token(needed, issuer="mallory"),
        "not a JWT": "not-a-token",
    }
    for case, token in refused.items():
        assert await server.call(method, token) == grpc.StatusCode.UNAUTHENTICATED, case


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.path.rsplit("/", 1)[1])
async def test_every_method_needs_its_permission_and_no_more(
    server: Secured, method: Method
) -> None:
    needed = METHOD_PERMISSIONS[method.path]
    weaker = {
        Permission.READ: [()],
        Permission.WRITE: [(), (Permission.READ,)],
        Permission.ADMIN: [(), (Permission.READ,), (Permission.WRITE,)],
    }[needed]
    for held in weaker:
        denied = await server.call(method, server.token(*held))
        assert denied == grpc.StatusCode.PERMISSION_DENIED, held
    passed = await server.call(method, server.token(needed))
    assert passed not in {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


async def test_reflection_needs_admin(server: Secured) -> None:
    from grpc_reflection.v1alpha import reflection_pb2

    def open_stream(channel: grpc.aio.Channel, token: str | None) -> Any:
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        stream = channel.stream_stream(
            REFLECTION,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        return stream(metadata=metadata, timeout=5)

    async def refusal(token: str | None) -> grpc.StatusCode:
        # The refusal comes before any request is read, so none is sent: a request written
        # while the refusal arrives makes grpc.aio's client report INTERNAL ("Failed
        # execute_batch") in place of the server's status.
        async with grpc.aio.secure_channel(server.address, server.credentials) as channel:
            code: grpc.StatusCode = await open_stream(channel, token).code()
            return code

    assert await refusal(None) == grpc.StatusCode.UNAUTHENTICATED
    assert await refusal(server.token(Permission.WRITE)) == grpc.StatusCode.PERMISSION_DENIED
    async with grpc.aio.secure_channel(server.address, server.credentials) as channel:
        call = open_stream(channel, server.token(Permission.ADMIN))
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        answer = await call.read()
        assert answer.list_services_response.service
        await call.done_writing()
        assert await call.code() == grpc.StatusCode.OK


async def test_health_answers_serving_without_a_token(server: Secured) -> None:
    async with grpc.aio.secure_channel(server.address, server.credentials) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_refusals_say_why_in_error_info(server: Secured) -> None:
    get = next(m for m in METHODS if m.path.endswith("/GetWorkflowRun"))
    cases = {
        None: ("TOKEN_MISSING", grpc.StatusCode.UNAUTHENTICATED),
        server.token(Permission.READ, valid_s=-120.0): (
            "TOKEN_EXPIRED",
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        server.token(Permission.READ, key=server.other_key): (
            "TOKEN_BAD_SIGNATURE",
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        server.token(Permission.READ, audience="x"): (
            "TOKEN_WRONG_AUDIENCE",
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        server.token(): ("MISSING_PERMISSION", grpc.StatusCode.PERMISSION_DENIED),
    }
    async with grpc.aio.secure_channel(server.address, server.credentials) as channel:
        unary = channel.unary_unary(
            get.path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        for token, (reason, code) in cases.items():
            metadata = (("authorization", f"Bearer {token}"),) if token else None
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await unary(
                    orchestrator_pb2.GetWorkflowRunRequest(name="workflowRuns/x"),
                    metadata=metadata,
                    timeout=5,
                )
            assert raised.value.code() == code
            status = rpc_status.from_call(raised.value)
            assert status is not None
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert (info.reason, info.domain) == (reason, "orchestrator.aura")


async def test_an_undecodable_request_from_an_anonymous_caller_is_unauthenticated(
    server: Secured,
) -> None:
    async with grpc.aio.secure_channel(server.address, server.credentials) as channel:
        raw = channel.unary_unary(
            "/aura.orchestrator.v1.OrchestratorService/GetWorkflowRun",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await raw(b"\xff\xff\xff", timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_token_not_yet_valid_is_refused(server: Secured) -> None:
    get = next(m for m in METHODS if m.path.endswith("/GetWorkflowRun"))
    later = server.token(Permission.READ, not_before=time.time() + 600)
    assert await server.call(get, later) == grpc.StatusCode.UNAUTHENTICATED
