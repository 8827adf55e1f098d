"""A backend whose answer is not its method's response type (a wrong build, a proxy's
garbage): the call fails INTERNAL with reason UNDECODABLE_RESPONSE, the step fails with
that status, the run finishes with every event recorded, and the breaker does not open
(the backend did answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.mesh import UNDECODABLE_RESPONSE, BackendCallError, BackendPool
from orchestrator.mesh.health_watch import SERVING
from orchestrator.resilience import CircuitState, error_reason
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore
from tests.helpers import eventually
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

pytestmark = pytest.mark.integration

NLU = "aura.nlu.v1.NluService"
# Field 1 (text, length-delimited) claims 100 bytes and ends after 2: no message parses.
GARBAGE = b"\x0a\x64ab"


@pytest.fixture
async def garbage_nlu() -> AsyncIterator[str]:
    """A grpc.aio server answering every AnalyzeText with GARBAGE, its health SERVING."""
    server = grpc.aio.server()

    async def analyze_text(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return GARBAGE

    handler = grpc.method_handlers_generic_handler(
        NLU, {"AnalyzeText": grpc.unary_unary_rpc_method_handler(analyze_text)}
    )
    server.add_generic_rpc_handlers((handler,))
    health_servicer = health.aio.HealthServicer()
    await health_servicer.set(NLU, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def _serving_pool(addresses: dict[str, list[str]]) -> BackendPool:
    pool = BackendPool(addresses)
    await pool.start()
    for service in addresses:
        for endpoint in pool.endpoints(service):
            await eventually(lambda endpoint=endpoint: endpoint.health.status == SERVING)
    return pool


async def test_an_answer_that_does_not_parse_fails_the_call_internal(garbage_nlu: str) -> None:
    pool = await _serving_pool({NLU: [garbage_nlu]})
    try:
        for _ in range(4):  # more than a breaker's default failure threshold
            with pytest.raises(BackendCallError) as raised:
                await pool.invoke(
                    service=NLU,
                    path=f"/{NLU}/AnalyzeText",
                    request=nlu_pb2.AnalyzeTextRequest(text="a navy blazer"),
                    response_class=nlu_pb2.AnalyzeTextResponse,
                    timeout_s=5,
                )
            status = raised.value.to_status()
            assert status.code == grpc.StatusCode.INTERNAL.value[0]
            assert error_reason(status) == UNDECODABLE_RESPONSE
            assert "aura.nlu.v1.AnalyzeTextResponse" in status.message
        endpoint = pool.endpoints(NLU)[0]
        assert endpoint.breaker.state is CircuitState.CLOSED
        assert endpoint.error_count == 4
    finally:
        await pool.stop()


async def test_a_run_whose_step_gets_an_undecodable_answer_fails_that_step_and_finishes(
    mesh: MockMesh, garbage_nlu: str, catalog: DefinitionCatalog, tmp_path: Path
) -> None:
    addresses = {service: [address] for service, address in mesh.addresses().items()}
    addresses[NLU] = [garbage_nlu]
    pool = await _serving_pool(addresses)
    try:
        async with SqliteRunStore(tmp_path / "runs.db") as store:
            engine = Engine(store, pool, catalog)
            started, _ = await engine.start_run(
                RunSpec("complete_style_analysis", struct(STYLE_INPUT))
            )
            run = await engine.wait_finished(started.name)
            events = await store.read_events(run.name, scope=EVERY_TENANT)
    finally:
        await pool.stop()

    nlu = next(step for step in run.steps if step.step_id == "nlu")
    assert nlu.state == run_pb2.STEP_STATE_FAILED
    assert error_reason(nlu.error) == UNDECODABLE_RESPONSE
    image = next(step for step in run.steps if step.step_id == "image")
    assert image.state == run_pb2.STEP_STATE_SUCCEEDED
    assert run.state == run_pb2.RUN_STATE_FAILED
    assert events[-1].HasField("run_finished")
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
