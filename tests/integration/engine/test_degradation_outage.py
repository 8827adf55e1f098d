"""A service that is really gone (its server stopped: connections refused, its
breaker open) degrades a run the same way as one answering UNAVAILABLE."""

from __future__ import annotations

import time

import pytest

from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.resilience import CIRCUIT_OPEN, error_reason
from tests.integration.orchestrator_helpers import Stub, collect_events, execute, step

pytestmark = pytest.mark.integration

OUTFIT_INPUT = {"user_id": "ada", "text": "Outfit for an office meeting, navy"}


async def test_with_the_trend_service_stopped_outfits_are_made_without_trends(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    recommendation = mesh.servers["recommendation"]
    # Cold: nothing to fall back on, the outfits are made without the optional trends.
    await recommendation.stop(grace_s=0)
    started = time.monotonic()

    cold = await execute(stub, "outfit_recommendation", OUTFIT_INPUT)

    elapsed_s = time.monotonic() - started
    assert cold.state == run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED
    assert step(cold, "trends").state == run_pb2.STEP_STATE_FAILED
    assert step(cold, "outfits").state == run_pb2.STEP_STATE_SUCCEEDED
    assert elapsed_s < 10, elapsed_s  # bounded by the trends step's two attempts


async def test_with_the_style_service_stopped_the_last_good_profile_answers_an_open_circuit(
    mesh: MockMesh,
    stub: Stub,
) -> None:
    healthy = await execute(stub, "outfit_recommendation", OUTFIT_INPUT)
    await mesh.servers["style"].stop(grace_s=0)
    await execute(stub, "outfit_recommendation", OUTFIT_INPUT)  # the breaker learns

    run = await execute(stub, "outfit_recommendation", OUTFIT_INPUT)
    events = await collect_events(stub, run.name)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED
    profile = step(run, "profile")
    assert profile.answered_by == run_pb2.ANSWERED_BY_LAST_GOOD_ANSWER
    assert profile.output == step(healthy, "profile").output
    last_failure = [
        e.step_attempt_failed
        for e in events
        if e.HasField("step_attempt_failed") and e.step_attempt_failed.step_id == "profile"
    ][-1]
    assert error_reason(last_failure.error) == CIRCUIT_OPEN
