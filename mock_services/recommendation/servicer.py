"""The RecommendationEngineService mock."""

from __future__ import annotations

from pathlib import Path

import grpc

from aura.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc
from mock_services.common.adoption import check_adoption
from mock_services.common.ledger import Ledger
from mock_services.common.participant import apply_direct, idempotency_key
from mock_services.common.validation import reject_invalid
from mock_services.recommendation.ranking import recommend_items
from mock_services.recommendation.stock import (
    RECORD_FEEDBACK,
    available,
    list_feedback,
    stock_ledger,
    withdraw_feedback,
)
from mock_services.recommendation.trends import get_trends
from mock_services.recommendation.validation import validate_get_trends, validate_recommend_items


class RecommendationServicer(recommendation_pb2_grpc.RecommendationEngineServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def RecordFeedback(
        self, request: recommendation_pb2.RecordFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> recommendation_pb2.RecordFeedbackResponse:
        response = recommendation_pb2.RecordFeedbackResponse()
        return await apply_direct(self.ledger, RECORD_FEEDBACK, request, response, context)

    async def WithdrawFeedback(
        self,
        request: recommendation_pb2.WithdrawFeedbackRequest,
        context: grpc.aio.ServicerContext,
    ) -> recommendation_pb2.WithdrawFeedbackResponse:
        violations = check_adoption(request.user_id, request.outfit_id, None)
        await reject_invalid(context, violations, "WithdrawFeedbackRequest")
        key = idempotency_key(context) or ""
        withdrawn = withdraw_feedback(self.ledger, request.user_id, request.outfit_id, key)
        return recommendation_pb2.WithdrawFeedbackResponse(withdrawn=withdrawn)

    async def ListFeedback(
        self, request: recommendation_pb2.ListFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> recommendation_pb2.ListFeedbackResponse:
        violations = check_adoption(request.user_id, "-", None)
        await reject_invalid(context, violations, "ListFeedbackRequest")
        feedback = list_feedback(self.ledger, request.user_id)
        return recommendation_pb2.ListFeedbackResponse(feedback=feedback)

    async def GetStock(
        self, request: recommendation_pb2.GetStockRequest, context: grpc.aio.ServicerContext
    ) -> recommendation_pb2.GetStockResponse:
        violations = check_adoption("-", "-", list(request.skus))
        await reject_invalid(context, violations, "GetStockRequest")
        levels = [
            recommendation_pb2.StockLevel(sku=sku, available=available(self.ledger.db, sku))
            for sku in request.skus
        ]
        return recommendation_pb2.GetStockResponse(levels=levels)

    async def RecommendItems(
        self, request: recommendation_pb2.RecommendItemsRequest, context: grpc.aio.ServicerContext
    ) -> recommendation_pb2.RecommendItemsResponse:
        violations = validate_recommend_items(request)
        await reject_invalid(context, violations, "RecommendItemsRequest")
        return recommend_items(request)

    async def GetTrends(
        self, request: recommendation_pb2.GetTrendsRequest, context: grpc.aio.ServicerContext
    ) -> recommendation_pb2.GetTrendsResponse:
        await reject_invalid(context, validate_get_trends(request), "GetTrendsRequest")
        return get_trends(request)


def add_to_server(server: grpc.aio.Server, data_dir: Path) -> Ledger:
    ledger = stock_ledger(data_dir / "recommendation.db")
    recommendation_pb2_grpc.add_RecommendationEngineServiceServicer_to_server(
        RecommendationServicer(ledger), server
    )
    return ledger
