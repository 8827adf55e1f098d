"""Saga compensation: when a later required step fails, the completed steps with a
compensation are undone newest first, once each as the services see it, also when the
orchestrator is killed with SIGKILL in the middle of compensating."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from mock_services.mesh import MockMesh
from orchestrator.workflows import parse_definition
from tests.helpers import eventually
from tests.integration.cli_process import OrchestratorProcess, free_port
from tests.integration.orchestrator_helpers import Stub, collect_events, execute
from tests.integration.transaction_helpers import MockProcess, durable_state

pytestmark = pytest.mark.integration

TRIALS = 20
UNDO_DEFINITION = """
name: workflowDefinitions/adopt_with_undo
description: Saves an outfit, records feedback, then learns it; undoes both on a failure.
steps:
  - id: save
    method: aura.combination.v1.CombinationEngineService/SaveOutfit
    inputs:
      user_id: {ref: input.user_id}
      outfit_id: {ref: input.outfit_id}
      item_skus: {ref: input.item_skus}
    compensation:
      method: aura.combination.v1.CombinationEngineService/RemoveOutfit
      inputs:
        user_id: {ref: input.user_id}
        outfit_id: {ref: steps.save.outfit.outfit_id}
  - id: feedback
    method: aura.recommendation.v1.RecommendationEngineService/RecordFeedback
    depends_on: [save]
    inputs:
      user_id: {ref: input.user_id}
      outfit_id: {ref: input.outfit_id}
      item_skus: {ref: input.item_skus}
    compensation:
      method: aura.recommendation.v1.RecommendationEngineService/WithdrawFeedback
      inputs:
        user_id: {ref: input.user_id}
        outfit_id: {ref: steps.feedback.feedback.outfit_id}
  - id: learn
    method: aura.style.v1.StyleProfileService/LearnAdoptedOutfit
    depends_on: [feedback]
    inputs:
      user_id: {ref: input.user_id}
      outfit_id: {ref: input.outfit_id}
      item_skus: {ref: input.learn_skus}
"""


def _input(trial: int) -> dict[str, object]:
    # learn_skus names no catalogue item: the last step fails INVALID_ARGUMENT.
    return {
        "user_id": "ada",
        "outfit_id": f"outfit-{trial}",
        "item_skus": ["TOP-001", "BTM-001"],
        "learn_skus": ["NO-SUCH-ITEM"],
    }


async def _register(stub: orchestrator_pb2_grpc.OrchestratorServiceStub) -> None:
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(
            workflow_definition=parse_definition(UNDO_DEFINITION)
        )
    )


def _undo_effects(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Service -> (idempotency key, effect) of its undo effects, in order."""
    found = {}
    for service, effect in (("combination", "remove"), ("recommendation", "withdraw")):
        found[service] = [
            (branch, kind)
            for _, branch, kind in durable_state(data_dir, service).effects
            if kind == effect
        ]
    return found


@pytest.fixture(name="mocks")
async def mocks_fixture(tmp_path: Path) -> AsyncIterator[MockProcess]:
    process = MockProcess(tmp_path / "mocks", AURA_MOCK_COMBINATION_LATENCY_MS="600")
    await process.start()
    yield process
    await process.stop()


async def test_a_failure_after_two_steps_undoes_both_newest_first(
    stub: Stub, mesh: MockMesh
) -> None:
    await _register(stub)
    run = await execute(stub, "adopt_with_undo", _input(0))

    assert run.state == run_pb2.RUN_STATE_FAILED
    assert "step learn failed" in run.error.message
    assert "compensated (undone, newest first): feedback, save" in run.error.message
    compensation = {step.step_id: step.compensation for step in run.steps}
    assert compensation == {
        "save": run_pb2.COMPENSATION_STATE_COMPENSATED,
        "feedback": run_pb2.COMPENSATION_STATE_COMPENSATED,
        "learn": run_pb2.COMPENSATION_STATE_UNSPECIFIED,
    }
    undone = [
        event.step_compensated.step_id
        for event in await collect_events(stub, run.name)
        if event.HasField("step_compensated")
    ]
    assert undone == ["feedback", "save"]
    for service in ("combination", "recommendation"):
        state = durable_state(mesh[service].data_dir, service)
        assert state.applied == {}, service  # saved, then removed; recorded, then withdrawn
    assert durable_state(mesh["recommendation"].data_dir, "recommendation").held_units == 0


async def test_compensation_goes_on_after_the_orchestrator_is_killed_and_undoes_once(
    mocks: MockProcess, tmp_path: Path
) -> None:
    orchestrator = OrchestratorProcess(mocks, tmp_path / "orchestrator", free_port())  # type: ignore[arg-type]
    orchestrator.env["AURA_LOG_LEVEL"] = "ERROR"
    await orchestrator.start()
    channel = grpc.aio.insecure_channel(orchestrator.address)
    stub = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
    try:
        await _register(stub)

        async def start(trial: int) -> str:
            run_input = struct_pb2.Struct()
            run_input.update(_input(trial))
            answer = await stub.StartWorkflowRun(
                orchestrator_pb2.StartWorkflowRunRequest(
                    workflow_definition="adopt_with_undo", input=run_input
                )
            )
            return answer.workflow_run.name

        names = list(await asyncio.gather(*(start(trial) for trial in range(TRIALS))))

        def all_withdrawn() -> bool:
            return len(_undo_effects(mocks.data_dir)["recommendation"]) == TRIALS

        await eventually(all_withdrawn, timeout_s=15, interval_s=0.02)
        await orchestrator.kill()  # the RemoveOutfit compensations are on their way
        wardrobe = durable_state(mocks.data_dir, "combination").applied
        assert len(wardrobe) == TRIALS, "a compensation finished before the kill"

        await orchestrator.start()

        async def all_failed() -> list[run_pb2.WorkflowRun] | None:
            runs = [
                (
                    await stub.GetWorkflowRun(orchestrator_pb2.GetWorkflowRunRequest(name=n))
                ).workflow_run
                for n in names
            ]
            return runs if all(r.state == run_pb2.RUN_STATE_FAILED for r in runs) else None

        runs = await eventually(all_failed, timeout_s=20, interval_s=0.1)
        assert runs is not None
        for run in runs:
            assert {s.step_id: s.compensation for s in run.steps if s.compensation} == {
                "save": run_pb2.COMPENSATION_STATE_COMPENSATED,
                "feedback": run_pb2.COMPENSATION_STATE_COMPENSATED,
            }
    finally:
        await channel.close()
        if orchestrator.process is not None and orchestrator.process.returncode is None:
            orchestrator.process.send_signal(signal.SIGCONT)
        await orchestrator.terminate()

    combination = durable_state(mocks.data_dir, "combination")
    recommendation = durable_state(mocks.data_dir, "recommendation")
    assert combination.applied == {} and recommendation.applied == {}
    assert recommendation.held_units == 0
    effects = _undo_effects(mocks.data_dir)
    keys = {f"{name.removeprefix('workflowRuns/')}" for name in names}
    # Exactly once each, as the services saw it, under the step's own idempotency key.
    assert sorted(k for k, _ in effects["recommendation"]) == sorted(
        f"{key}/feedback" for key in keys
    )
    assert sorted(k for k, _ in effects["combination"]) == sorted(f"{key}/save" for key in keys)
    # Newest first: each run's feedback was withdrawn before its outfit was removed.
    removed_at = _effect_times(mocks.data_dir, "combination", "remove")
    withdrawn_at = _effect_times(mocks.data_dir, "recommendation", "withdraw")
    for key in keys:
        assert withdrawn_at[f"{key}/feedback"] < removed_at[f"{key}/save"]


def _effect_times(data_dir: Path, service: str, effect: str) -> dict[str, int]:
    db = sqlite3.connect(f"file:{data_dir / f'{service}.db'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT branch_id, time_ns FROM effect_log WHERE effect = ?", (effect,)
        ).fetchall()
    finally:
        db.close()
    return {row[0]: row[1] for row in rows}
