"""The mesh's plain view for reporting: `BackendPool.snapshot()` against the real mocks."""

from __future__ import annotations

import dataclasses

import pytest

from aura.nlu.v1 import nlu_pb2
from mock_services.mesh import MockMesh
from orchestrator.mesh import BackendPool, ServiceSnapshot, ServingStatus
from orchestrator.resilience import CircuitState, ServicePolicy
from tests.helpers import eventually
from tests.integration.orchestrator_fixtures import mesh

pytestmark = pytest.mark.integration
__all__ = ["mesh"]

NLU = "aura.nlu.v1.NluService"


async def test_snapshot_reports_every_service_and_replica_as_plain_values(mesh: MockMesh) -> None:
    addresses = {service: [address] for service, address in mesh.addresses().items()}
    pool = BackendPool(addresses)
    await pool.start()
    try:

        def all_serving() -> bool:
            return all(
                endpoint.serving_status is ServingStatus.SERVING
                for service in pool.snapshot()
                for endpoint in service.endpoints
            )

        await eventually(all_serving, timeout_s=15, message="every replica SERVING")
        await pool.invoke(
            service=NLU,
            path=f"/{NLU}/AnalyzeText",
            request=nlu_pb2.AnalyzeTextRequest(text="a navy blazer for the office"),
            response_class=nlu_pb2.AnalyzeTextResponse,
            timeout_s=10,
        )
        snapshot = pool.snapshot()
    finally:
        await pool.stop()

    assert [service.service for service in snapshot] == sorted(addresses)
    nlu = next(service for service in snapshot if service.service == NLU)
    assert (nlu.call_count, nlu.error_count, nlu.in_flight) == (1, 0, 0)
    assert nlu.max_in_flight == ServicePolicy().max_in_flight
    assert nlu.circuit_state is CircuitState.CLOSED and nlu.circuit_trips == 0
    assert nlu.retry_tokens == nlu.max_retry_tokens > 0
    assert nlu.latency_p99_s >= nlu.latency_p50_s > 0
    (endpoint,) = nlu.endpoints
    assert endpoint.address == addresses[NLU][0]
    assert (endpoint.call_count, endpoint.error_count) == (1, 0)
    assert endpoint.circuit_state is CircuitState.CLOSED and endpoint.circuit_changed_at is None


def test_a_snapshot_cannot_be_written_through() -> None:
    snapshot = ServiceSnapshot(
        service=NLU,
        call_count=0,
        error_count=0,
        circuit_state=CircuitState.CLOSED,
        circuit_trips=0,
        circuit_rejections=0,
        in_flight=0,
        max_in_flight=1,
        retry_tokens=1.0,
        max_retry_tokens=1.0,
        latency_p50_s=0.0,
        latency_p99_s=0.0,
        endpoints=(),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.in_flight = 5  # type: ignore[misc]
