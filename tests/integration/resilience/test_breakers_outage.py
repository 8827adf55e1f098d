"""Recovery after a long outage: calls flow again as soon as the backend serves.

The outage has to be long to show the failure it guards against: gRPC's default
connection backoff (1 s, x1.6 per failed attempt, up to 120 s) has grown to gaps of
17-27 s after a minute of refused connections, so a channel left at the default
reconnects, and its health stream reports SERVING, many seconds after the backend
is back. A shorter outage leaves shorter gaps (about 4-7 s after 10 s) and would show
the same effect less sharply; the 60 s case is the one operators meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services import start_mock_server
from mock_services.mesh import MockMesh
from orchestrator.resilience import CircuitState
from tests.integration.orchestrator_helpers import execute
from tests.integration.resilience.resilience_helpers import (
    NLU,
    TEXT_INPUT,
    define,
    nlu_step,
    orchestrator_with,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 60.0


# The backend comes back on the address it left. A fixed port outside the ephemeral
# range (32768-60999 on Linux), so nothing else is handed it during the outage.
ADDRESS = "127.0.0.1:9601"


@pytest.mark.timeout(180)
async def test_after_a_60s_outage_calls_flow_within_1s_of_the_service_serving_again(
    mesh: MockMesh, tmp_path: Path
) -> None:
    nlu = await start_mock_server("nlu", ADDRESS)
    try:
        addresses = {s.service_name: [s.address] for s in mesh.servers.values()}
        addresses[NLU] = [ADDRESS]
        async with orchestrator_with(mesh, tmp_path, service_addresses=addresses) as (server, stub):
            await define(stub, "nlu_only", [nlu_step(timeout="0.5s")])
            before = await execute(stub, "nlu_only", TEXT_INPUT)
            assert before.state == run_pb2.RUN_STATE_SUCCEEDED
            service = server.pool.service(NLU)

            await nlu.stop(grace_s=0)

            async def light_traffic() -> None:  # a live system keeps asking during the outage
                while True:
                    await execute(stub, "nlu_only", TEXT_INPUT)
                    await asyncio.sleep(1.0)

            during = asyncio.create_task(light_traffic())
            await asyncio.sleep(OUTAGE_S)
            during.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await during
            trips_during_outage = service.circuit_trips
            assert service.circuit_state is not CircuitState.CLOSED

            back = await start_mock_server("nlu", ADDRESS)  # health says SERVING from here
            try:
                back_at = time.monotonic()
                while True:
                    run = await execute(stub, "nlu_only", TEXT_INPUT)
                    flowed_s = time.monotonic() - back_at
                    if run.state == run_pb2.RUN_STATE_SUCCEEDED or flowed_s > 40:
                        break
                    await asyncio.sleep(0.02)
                assert service.circuit_state is CircuitState.CLOSED
            finally:
                await back.stop(grace_s=0)
    finally:
        await nlu.stop(grace_s=0)  # idempotent; here for a failure before the outage

    print(
        f"after a {OUTAGE_S:.0f} s outage ({trips_during_outage} breaker trips), "
        f"calls flowed {flowed_s * 1000:.0f} ms after the service served again"
    )
    assert trips_during_outage >= 1
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    assert flowed_s < 1.0
