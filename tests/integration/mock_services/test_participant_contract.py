"""The participant contract on the three mocks that hold state: idempotent Prepare, Commit
and Abort per (transaction, branch), the fence against a late Prepare, NO votes as answers,
and readers that see only committed changes."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from aura.combination.v1 import combination_pb2 as cb
from aura.combination.v1 import combination_pb2_grpc
from aura.recommendation.v1 import recommendation_pb2 as rc
from aura.recommendation.v1 import recommendation_pb2_grpc
from aura.style.v1 import style_pb2 as st
from aura.style.v1 import style_pb2_grpc
from aura.transaction.v1 import participant_pb2 as tx
from aura.transaction.v1 import participant_pb2_grpc as tx_grpc
from mock_services import MockServer
from tests.integration.mock_helpers import OpenChannel, StartMock
from tests.integration.transaction_helpers import (
    ABORTED,
    COMMITTED,
    METHODS,
    OUTFIT_SKUS,
    PARTICIPANTS,
    adoption_request,
)

TRIALS = 20


async def _reader_view(service: str, server: MockServer, open_channel: OpenChannel) -> list[str]:
    """Outfit ids the service's reader shows for user ada."""
    channel = open_channel(server)
    if service == "style":
        adopted = await style_pb2_grpc.StyleProfileServiceStub(channel).ListAdoptedOutfits(
            st.ListAdoptedOutfitsRequest(user_id="ada")
        )
        return list(adopted.outfit_ids)
    if service == "combination":
        wardrobe = await combination_pb2_grpc.CombinationEngineServiceStub(channel).ListWardrobe(
            cb.ListWardrobeRequest(user_id="ada")
        )
        return [outfit.outfit_id for outfit in wardrobe.outfits]
    feedback = await recommendation_pb2_grpc.RecommendationEngineServiceStub(channel).ListFeedback(
        rc.ListFeedbackRequest(user_id="ada")
    )
    return [entry.outfit_id for entry in feedback.feedback]


def _prepare_request(service: str, txn: str, outfit: str) -> tx.PrepareRequest:
    return tx.PrepareRequest(
        transaction_id=txn,
        branch_id=service,
        method=METHODS[service],
        request=adoption_request(service, "ada", outfit),
    )


@pytest.mark.parametrize("service", PARTICIPANTS)
async def test_abort_before_prepare_fences_the_late_prepare_and_is_harmless(
    service: str, start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock(service)
    stub = tx_grpc.ParticipantServiceStub(open_channel(server))
    for trial in range(TRIALS):
        txn = f"run-{trial}/adopt"
        aborted = await stub.Abort(tx.AbortRequest(transaction_id=txn, branch_id=service))
        assert aborted.null_abort and aborted.state == tx.BRANCH_STATE_ABORTED
        late = await stub.Prepare(_prepare_request(service, txn, f"outfit-{trial}"))
        assert late.vote == tx.VOTE_NO
        info = error_details_pb2.ErrorInfo()
        assert late.refusal.details[0].Unpack(info) and info.reason == "BRANCH_ALREADY_ABORTED"
        again = await stub.Abort(tx.AbortRequest(transaction_id=txn, branch_id=service))
        assert not again.null_abort  # repeatable, and now a plain abort of a fenced branch
    assert server.ledger is not None
    states = server.ledger.branch_states()
    assert len(states) == TRIALS and set(states.values()) == {ABORTED}
    assert await _reader_view(service, server, open_channel) == []
    if service == "recommendation":  # nothing held by the refused Prepares
        stock = await recommendation_pb2_grpc.RecommendationEngineServiceStub(
            open_channel(server)
        ).GetStock(rc.GetStockRequest(skus=list(OUTFIT_SKUS)))
        assert [level.available for level in stock.levels] == [1000, 1000, 1000]


@pytest.mark.parametrize("service", PARTICIPANTS)
async def test_prepared_changes_show_only_once_committed_and_commit_is_repeatable(
    service: str, start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock(service)
    stub = tx_grpc.ParticipantServiceStub(open_channel(server))
    first = await stub.Prepare(_prepare_request(service, "r1/adopt", "navy"))
    repeated = await stub.Prepare(_prepare_request(service, "r1/adopt", "navy"))
    assert first.vote == repeated.vote == tx.VOTE_YES and first.result == repeated.result
    assert await _reader_view(service, server, open_channel) == []
    for _ in range(3):
        answer = await stub.Commit(tx.CommitRequest(transaction_id="r1/adopt", branch_id=service))
        assert answer.state == tx.BRANCH_STATE_COMMITTED
    assert await _reader_view(service, server, open_channel) == ["navy"]
    assert server.ledger is not None
    assert server.ledger.branch_states() == {("r1/adopt", service): COMMITTED}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Abort(tx.AbortRequest(transaction_id="r1/adopt", branch_id=service))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("service", PARTICIPANTS)
async def test_an_aborted_prepare_leaves_nothing_and_cannot_commit(
    service: str, start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock(service)
    stub = tx_grpc.ParticipantServiceStub(open_channel(server))
    assert (await stub.Prepare(_prepare_request(service, "r2/adopt", "grey"))).vote == tx.VOTE_YES
    for _ in range(2):
        await stub.Abort(tx.AbortRequest(transaction_id="r2/adopt", branch_id=service))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.Commit(tx.CommitRequest(transaction_id="r2/adopt", branch_id=service))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert await _reader_view(service, server, open_channel) == []


async def test_not_enough_stock_is_a_no_vote_with_details_and_holds_nothing(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("recommendation")
    stub = tx_grpc.ParticipantServiceStub(open_channel(server))
    request = rc.RecordFeedbackRequest(
        user_id="ada", outfit_id="big", item_skus=["TOP-001"], hold_quantity=600
    )
    prepare = tx.PrepareRequest(
        transaction_id="r3/adopt", branch_id="a", method=METHODS["recommendation"]
    )
    prepare.request.Pack(request)
    assert (await stub.Prepare(prepare)).vote == tx.VOTE_YES
    prepare.transaction_id = "r4/adopt"
    refused = await stub.Prepare(prepare)
    assert refused.vote == tx.VOTE_NO
    assert refused.refusal.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    info = error_details_pb2.ErrorInfo()
    assert refused.refusal.details[0].Unpack(info) and info.reason == "OUT_OF_STOCK"
    recommendation = recommendation_pb2_grpc.RecommendationEngineServiceStub(open_channel(server))
    stock = await recommendation.GetStock(rc.GetStockRequest(skus=["TOP-001"]))
    assert stock.levels[0].available == 400  # the first hold only


async def test_direct_changes_are_idempotent_on_the_key_and_compensations_undo_them(
    start_mock: StartMock, open_channel: OpenChannel
) -> None:
    server = await start_mock("combination")
    stub = combination_pb2_grpc.CombinationEngineServiceStub(open_channel(server))
    save = cb.SaveOutfitRequest(user_id="ada", outfit_id="o1", item_skus=["TOP-001"])
    key = (("aura-idempotency-key", "run-9/save"),)
    for _ in range(2):
        saved = await stub.SaveOutfit(save, metadata=key)
        assert saved.outfit.outfit_id == "o1"
    assert server.ledger is not None
    assert sum(1 for _, _, e in _effects(server) if e == "commit") == 1
    remove = cb.RemoveOutfitRequest(user_id="ada", outfit_id="o1")
    assert (await stub.RemoveOutfit(remove, metadata=key)).removed
    assert not (await stub.RemoveOutfit(remove, metadata=key)).removed
    assert (await stub.ListWardrobe(cb.ListWardrobeRequest(user_id="ada"))).outfits == []
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.SaveOutfit(cb.SaveOutfitRequest(user_id="ada", outfit_id="o2", item_skus=["X"]))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def _effects(server: MockServer) -> list[tuple[str, str, str]]:
    assert server.ledger is not None
    rows = server.ledger.db.execute(
        "SELECT transaction_id, branch_id, effect FROM effect_log ORDER BY id"
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]
