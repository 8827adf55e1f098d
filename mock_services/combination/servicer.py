"""The CombinationEngineService mock."""

from __future__ import annotations

from pathlib import Path

import grpc

from aura.combination.v1 import combination_pb2, combination_pb2_grpc
from mock_services.combination.outfits import generate_outfits
from mock_services.combination.validation import validate_generate_outfits
from mock_services.combination.wardrobe import (
    SAVE_OUTFIT,
    list_wardrobe,
    remove_outfit,
    wardrobe_ledger,
)
from mock_services.common.adoption import check_adoption
from mock_services.common.ledger import Ledger
from mock_services.common.participant import apply_direct, idempotency_key
from mock_services.common.validation import reject_invalid


class CombinationServicer(combination_pb2_grpc.CombinationEngineServiceServicer):
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def GenerateOutfits(
        self, request: combination_pb2.GenerateOutfitsRequest, context: grpc.aio.ServicerContext
    ) -> combination_pb2.GenerateOutfitsResponse:
        violations = validate_generate_outfits(request)
        await reject_invalid(context, violations, "GenerateOutfitsRequest")
        return generate_outfits(request)

    async def SaveOutfit(
        self, request: combination_pb2.SaveOutfitRequest, context: grpc.aio.ServicerContext
    ) -> combination_pb2.SaveOutfitResponse:
        return await apply_direct(
            self.ledger, SAVE_OUTFIT, request, combination_pb2.SaveOutfitResponse(), context
        )

    async def RemoveOutfit(
        self, request: combination_pb2.RemoveOutfitRequest, context: grpc.aio.ServicerContext
    ) -> combination_pb2.RemoveOutfitResponse:
        violations = check_adoption(request.user_id, request.outfit_id, None)
        await reject_invalid(context, violations, "RemoveOutfitRequest")
        key = idempotency_key(context) or ""
        removed = remove_outfit(self.ledger, request.user_id, request.outfit_id, key)
        return combination_pb2.RemoveOutfitResponse(removed=removed)

    async def ListWardrobe(
        self, request: combination_pb2.ListWardrobeRequest, context: grpc.aio.ServicerContext
    ) -> combination_pb2.ListWardrobeResponse:
        violations = check_adoption(request.user_id, "-", None)
        await reject_invalid(context, violations, "ListWardrobeRequest")
        outfits = list_wardrobe(self.ledger, request.user_id)
        return combination_pb2.ListWardrobeResponse(outfits=outfits)


def add_to_server(server: grpc.aio.Server, data_dir: Path) -> Ledger:
    ledger = wardrobe_ledger(data_dir / "combination.db")
    combination_pb2_grpc.add_CombinationEngineServiceServicer_to_server(
        CombinationServicer(ledger), server
    )
    return ledger
