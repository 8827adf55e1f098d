"""Transaction groups run as two-phase commit (in process, over the real mocks): the
adopt_outfit seed commits all three changes or none, the history shows every vote, the
decision and every acknowledgement, and GetWorkflowRun the transaction's state."""

from __future__ import annotations

import grpc
import pytest

from aura.combination.v1 import combination_pb2 as cb
from aura.combination.v1 import combination_pb2_grpc
from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from aura.recommendation.v1 import recommendation_pb2 as rc
from aura.recommendation.v1 import recommendation_pb2_grpc
from aura.style.v1 import style_pb2 as st
from aura.style.v1 import style_pb2_grpc
from aura.transaction.v1 import participant_pb2 as tx
from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from orchestrator.workflows import parse_definition
from tests.integration.orchestrator_helpers import Stub, collect_events, execute

pytestmark = pytest.mark.integration

ADOPT = {"user_id": "ada", "outfit_id": "navy-office", "item_skus": ["TOP-001", "BTM-001"]}


async def _views(mesh: MockMesh, user_id: str = "ada") -> tuple[list[str], list[str], list[str]]:
    """(adopted outfits, wardrobe, feedback) as each service's reader shows them."""
    channels = {name: grpc.aio.insecure_channel(mesh[name].address) for name in mesh.servers}
    try:
        adopted = await style_pb2_grpc.StyleProfileServiceStub(
            channels["style"]
        ).ListAdoptedOutfits(st.ListAdoptedOutfitsRequest(user_id=user_id))
        wardrobe = await combination_pb2_grpc.CombinationEngineServiceStub(
            channels["combination"]
        ).ListWardrobe(cb.ListWardrobeRequest(user_id=user_id))
        feedback = await recommendation_pb2_grpc.RecommendationEngineServiceStub(
            channels["recommendation"]
        ).ListFeedback(rc.ListFeedbackRequest(user_id=user_id))
    finally:
        for channel in channels.values():
            await channel.close()
    return (
        list(adopted.outfit_ids),
        [o.outfit_id for o in wardrobe.outfits],
        [f.outfit_id for f in feedback.feedback],
    )


async def test_adopting_an_outfit_commits_all_three_changes_once(
    stub: Stub, mesh: MockMesh, orchestrator: OrchestratorServer
) -> None:
    run = await execute(stub, "adopt_outfit", ADOPT)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert [step.state for step in run.steps] == [run_pb2.STEP_STATE_SUCCEEDED] * 3
    [transaction] = run.transactions
    assert transaction.state == run_pb2.TRANSACTION_STATE_COMMITTED
    assert transaction.decision == run_pb2.TRANSACTION_DECISION_COMMIT
    assert [(b.step_id, b.vote, b.acknowledged) for b in transaction.branches] == [
        ("learn", tx.VOTE_YES, True),
        ("wardrobe", tx.VOTE_YES, True),
        ("feedback", tx.VOTE_YES, True),
    ]
    saved = cb.SaveOutfitResponse()
    assert run.steps[1].output.Unpack(saved) and saved.outfit.outfit_id == "navy-office"
    assert await _views(mesh) == (["navy-office"], ["navy-office"], ["navy-office"])

    kinds = [e.WhichOneof("event") for e in await collect_events(stub, run.name)]
    decided = kinds.index("transaction_decided")
    assert kinds.count("transaction_voted") == 3 and kinds.count("transaction_acknowledged") == 3
    assert max(i for i, k in enumerate(kinds) if k == "transaction_voted") < decided
    assert min(i for i, k in enumerate(kinds) if k == "transaction_acknowledged") > decided
    # Two round trips per participant (Prepare, Commit), one forced sync for the decision.
    for name in ("style", "combination", "recommendation"):
        assert mesh[name].calls["Prepare"] == 1 and mesh[name].calls["Commit"] == 1
    assert orchestrator.store.forced_syncs == 1  # type: ignore[attr-defined]

    registry = orchestrator.metrics.registry
    decided = {"definition": "adopt_outfit", "decision": "commit"}
    assert registry.get_sample_value("aura_transactions_decided_total", decided) == 1
    assert registry.get_sample_value("aura_transaction_participants_in_doubt") == 0
    resolved = {"decision": "commit"}
    assert registry.get_sample_value("aura_transaction_resolve_seconds_count", resolved) == 1

    outcome = await stub.GetTransactionOutcome(
        orchestrator_pb2.GetTransactionOutcomeRequest(transaction_id=transaction.transaction_id)
    )
    assert outcome.decision == run_pb2.TRANSACTION_DECISION_COMMIT
    assert outcome.state == run_pb2.TRANSACTION_STATE_COMMITTED and outcome.run == run.name


async def test_a_no_vote_aborts_every_branch_and_the_run_fails_with_its_refusal(
    stub: Stub, mesh: MockMesh
) -> None:
    run = await execute(stub, "adopt_outfit", {**ADOPT, "hold_quantity": 1001})

    assert run.state == run_pb2.RUN_STATE_FAILED
    [transaction] = run.transactions
    assert transaction.state == run_pb2.TRANSACTION_STATE_ABORTED
    votes = {b.step_id: b.vote for b in transaction.branches}
    assert votes == {"learn": tx.VOTE_YES, "wardrobe": tx.VOTE_YES, "feedback": tx.VOTE_NO}
    assert "feedback" in run.error.message
    assert await _views(mesh) == ([], [], [])
    for name in ("style", "combination"):
        assert mesh[name].calls["Abort"] == 1 and mesh[name].calls["Commit"] == 0
    assert mesh["recommendation"].calls["Abort"] == 0  # a NO voter holds nothing


async def test_an_unknown_transaction_is_presumed_aborted(stub: Stub) -> None:
    outcome = await stub.GetTransactionOutcome(
        orchestrator_pb2.GetTransactionOutcomeRequest(transaction_id="nothing-here/adopt")
    )
    assert outcome.decision == run_pb2.TRANSACTION_DECISION_ABORT
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.GetTransactionOutcome(
            orchestrator_pb2.GetTransactionOutcomeRequest(transaction_id="no-slash")
        )
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


SKIPPED_BRANCH = """
name: workflowDefinitions/skipped_branch
steps:
  - id: x
    method: aura.style.v1.StyleProfileService/GetStyleProfile
    optional: true
    inputs: {user_id: {value: "not a valid id!"}}
  - id: y
    method: aura.style.v1.StyleProfileService/GetStyleProfile
    depends_on: [x]
    inputs: {user_id: {ref: input.user_id}}
  - id: learn
    method: aura.style.v1.StyleProfileService/LearnAdoptedOutfit
    inputs: {user_id: {ref: input.user_id}, outfit_id: {ref: input.outfit_id},
             item_skus: {ref: input.item_skus}}
  - id: wardrobe
    method: aura.combination.v1.CombinationEngineService/SaveOutfit
    depends_on: [y]
    inputs: {user_id: {ref: input.user_id}, outfit_id: {ref: input.outfit_id},
             item_skus: {ref: input.item_skus}}
transactions:
  - {id: adopt, steps: [learn, wardrobe]}
"""


async def test_a_branch_skipped_upstream_fails_the_transaction_without_any_prepare(
    stub: Stub, mesh: MockMesh
) -> None:
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(
            workflow_definition=parse_definition(SKIPPED_BRANCH)
        )
    )
    run = await execute(stub, "skipped_branch", ADOPT)

    assert run.state == run_pb2.RUN_STATE_FAILED
    states = {step.step_id: step.state for step in run.steps}
    assert states["wardrobe"] == run_pb2.STEP_STATE_SKIPPED
    assert states["learn"] == run_pb2.STEP_STATE_FAILED
    assert "branch wardrobe was skipped" in run.error.message
    assert mesh["style"].calls["Prepare"] == mesh["combination"].calls["Prepare"] == 0
