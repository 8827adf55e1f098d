"""The RecommendationEngineService mock."""

from __future__ import annotations

import grpc

from aura.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc
from mock_services.common.validation import reject_invalid
from mock_services.recommendation.ranking import recommend_items
from mock_services.recommendation.trends import get_trends
from mock_services.recommendation.validation import validate_get_trends, validate_recommend_items


class RecommendationServicer(recommendation_pb2_grpc.RecommendationEngineServiceServicer):
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


def add_to_server(server: grpc.aio.Server) -> None:
    recommendation_pb2_grpc.add_RecommendationEngineServiceServicer_to_server(
        RecommendationServicer(), server
    )
