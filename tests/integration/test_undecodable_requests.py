"""A request that cannot be decoded is INVALID_ARGUMENT with ErrorInfo, on every method of every
server: the orchestrator's three services and each mock's. No traceback, one log line at most,
and the server goes on serving.

The bad bytes are made by hand (tests/wire_format.py): garbage, invalid UTF-8 in a string field,
and nesting past protobuf's recursion limit (a Struct 200 deep where the request has a Struct,
200 nested unknown groups where it has none).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status

from aura.orchestrator.v1 import orchestrator_pb2
from mock_services import MockMesh
from mock_services.registry import SERVICES
from orchestrator.errors import ERROR_DOMAIN
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_fixtures import settings_for
from tests.wire_format import BadRequest, bad_requests, call_raw

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
