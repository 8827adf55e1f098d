"""The NLU mock's logic behind a synchronous grpc.server, through pytest-grpc's fixtures.

The extraction and validation are transport-independent; this proves they serve a blocking
server and client just as they serve the asyncio mock.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_status import rpc_status

from aura.common.v1 import fashion_pb2 as fp
from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services.common.validation import invalid_argument_status
from mock_services.nlu import analyze_text, validate_analyze_text

pytestmark = pytest.mark.integration


class BlockingNluServicer(nlu_pb2_grpc.NluServiceServicer):
    def AnalyzeText(
        self, request: nlu_pb2.AnalyzeTextRequest, context: grpc.ServicerContext
    ) -> nlu_pb2.AnalyzeTextResponse:
        violations = validate_analyze_text(request)
        if violations:
            context.abort_with_status(invalid_argument_status(violations, "AnalyzeTextRequest"))
        return analyze_text(request)


@pytest.fixture(scope="module")
def grpc_addr() -> Iterator[str]:
    """pytest-grpc's own `grpc_addr` never closes the socket it reserves the port with
    (a ResourceWarning); this one holds it for the module, then closes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEPORT, as gRPC's server sets it: its bind then shares the port with this
        # reservation (and no other process without the option can take it meanwhile).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("localhost", 0))
        yield f"localhost:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def grpc_add_to_server() -> Any:
    return nlu_pb2_grpc.add_NluServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer() -> BlockingNluServicer:
    return BlockingNluServicer()


@pytest.fixture(scope="module")
def grpc_stub_cls() -> Any:
    return nlu_pb2_grpc.NluServiceStub


def test_a_blocking_client_gets_the_same_analysis(grpc_stub: nlu_pb2_grpc.NluServiceStub) -> None:
    request = nlu_pb2.AnalyzeTextRequest(text="a gala in June, something elegant under €300")
    response = grpc_stub.AnalyzeText(request)
    assert response == analyze_text(request)
    assert response.occasion == fp.OCCASION_FORMAL
    assert response.budget.max_price.units == 300


def test_a_blocking_client_gets_the_same_bad_request(
    grpc_stub: nlu_pb2_grpc.NluServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        grpc_stub.AnalyzeText(nlu_pb2.AnalyzeTextRequest(text=""))
    error: Any = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None and status.details
