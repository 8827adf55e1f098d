"""BackendPool.invoke against a real mock: `on_dispatch` fires once, right before the call
goes out, and never for a call refused before; a waiting call dispatches once admitted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from aura.nlu.v1 import nlu_pb2
from mock_services.mesh import MockMesh
from orchestrator.mesh import Answer, BackendCallError, BackendPool
from orchestrator.mesh.health_watch import SERVING
from orchestrator.resilience import (
    CIRCUIT_OPEN,
    BreakerSettings,
    CircuitState,
    ServicePolicy,
    error_reason,
)
from tests.helpers import eventually

pytestmark = pytest.mark.integration

NLU = "aura.nlu.v1.NluService"
PATH = f"/{NLU}/AnalyzeText"
REQUEST = nlu_pb2.AnalyzeTextRequest(text="a navy blazer for the office")


@pytest.fixture
async def pool(mesh: MockMesh) -> AsyncIterator[BackendPool]:
    policy = ServicePolicy(breaker=BreakerSettings(consecutive_failures=2, base_open_s=0.4))
    pool = BackendPool({NLU: [mesh["nlu"].address]}, policy_for=lambda service: policy)
    await pool.start()
    endpoint = pool.endpoints(NLU)[0]
    await eventually(lambda: endpoint.health.status == SERVING)
    try:
        yield pool
    finally:
        await pool.stop()


async def invoke(pool: BackendPool, timeout_s: float, dispatched: list[int]) -> Answer:
    return await pool.invoke(
        service=NLU,
        path=PATH,
        request=REQUEST,
        response_class=nlu_pb2.AnalyzeTextResponse,
        timeout_s=timeout_s,
        on_dispatch=lambda: dispatched.append(pool.endpoints(NLU)[0].call_count),
    )


async def test_on_dispatch_is_called_once_right_before_the_call_goes_out(
    mesh: MockMesh, pool: BackendPool
) -> None:
    dispatched: list[int] = []
    await invoke(pool, 2.0, dispatched)
    # Called once, before the call was counted as sent, and the backend got exactly one.
    assert dispatched == [0]
    assert mesh["nlu"].calls["AnalyzeText"] == 1


async def test_a_call_refused_before_dispatch_does_not_call_on_dispatch(
    mesh: MockMesh, pool: BackendPool
) -> None:
    mesh["nlu"].faults.error_rate = 1.0
    dispatched: list[int] = []
    for _ in range(2):
        with pytest.raises(BackendCallError):
            await invoke(pool, 2.0, dispatched)
    assert pool.service(NLU).circuit_state is CircuitState.OPEN
    assert len(dispatched) == 2

    with pytest.raises(BackendCallError) as refused:
        await invoke(pool, 0.1, dispatched)  # the open time (0.32-0.48 s) outlasts the timeout
    assert error_reason(refused.value.status) == CIRCUIT_OPEN
    assert len(dispatched) == 2
    assert mesh["nlu"].calls["AnalyzeText"] == 2


async def test_a_waiting_call_dispatches_once_when_the_breaker_admits_it(
    mesh: MockMesh, pool: BackendPool
) -> None:
    nlu = mesh["nlu"]
    nlu.faults.fail_next = 2
    for _ in range(2):
        with pytest.raises(BackendCallError):
            await invoke(pool, 2.0, [])
    assert pool.service(NLU).circuit_state is CircuitState.OPEN

    dispatched: list[int] = []
    started = time.monotonic()
    responses = await asyncio.gather(*(invoke(pool, 2.0, dispatched) for _ in range(3)))
    took_s = time.monotonic() - started

    assert all(isinstance(r.message, nlu_pb2.AnalyzeTextResponse) for r in responses)
    assert len(dispatched) == 3  # one probe first, the two others once it closed the breaker
    assert 0.25 <= took_s < 1.5, took_s
    assert nlu.calls["AnalyzeText"] == 2 + 3
