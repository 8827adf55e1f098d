"""The CombinationEngineService mock."""

from __future__ import annotations

import grpc

from aura.combination.v1 import combination_pb2, combination_pb2_grpc
from mock_services.combination.outfits import generate_outfits
from mock_services.combination.validation import validate_generate_outfits
from mock_services.common.validation import reject_invalid


class CombinationServicer(combination_pb2_grpc.CombinationEngineServiceServicer):
    async def GenerateOutfits(
        self, request: combination_pb2.GenerateOutfitsRequest, context: grpc.aio.ServicerContext
    ) -> combination_pb2.GenerateOutfitsResponse:
        violations = validate_generate_outfits(request)
        await reject_invalid(context, violations, "GenerateOutfitsRequest")
        return generate_outfits(request)


def add_to_server(server: grpc.aio.Server) -> None:
    combination_pb2_grpc.add_CombinationEngineServiceServicer_to_server(
        CombinationServicer(), server
    )
