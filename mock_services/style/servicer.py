"""The StyleProfileService mock."""

from __future__ import annotations

from pathlib import Path

import grpc

from aura.style.v1 import style_pb2, style_pb2_grpc
from mock_services.common.adoption import check_adoption
from mock_services.common.ledger import Ledger
from mock_services.common.participant import apply_direct, idempotency_key
from mock_services.common.validation import reject_invalid
from mock_services.style.adoptions import (
    LEARN_ADOPTED_OUTFIT,
    adopted,
    adoption_ledger,
    unlearn,
)
from mock_services.style.profiles import ProfileStore
from mock_services.style.validation import (
    validate_build_style_profile,
    validate_get_style_history,
    validate_get_style_profile,
)

DEFAULT_SNAPSHOTS = 20


class StyleServicer(style_pb2_grpc.StyleProfileServiceServicer):
    def __init__(self, ledger: Ledger, store: ProfileStore | None = None) -> None:
        self.ledger = ledger
        self.store = store or ProfileStore()

    async def BuildStyleProfile(
        self, request: style_pb2.BuildStyleProfileRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.BuildStyleProfileResponse:
        violations = validate_build_style_profile(request)
        await reject_invalid(context, violations, "BuildStyleProfileRequest")
        return self.store.build(request, idempotency_key(context))

    async def GetStyleProfile(
        self, request: style_pb2.GetStyleProfileRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.GetStyleProfileResponse:
        await reject_invalid(context, validate_get_style_profile(request), "GetStyleProfileRequest")
        adoptions = adopted(self.ledger, request.user_id)
        profile = self.store.current_with(request.user_id, [styles for _, styles in adoptions])
        return style_pb2.GetStyleProfileResponse(profile=profile)

    async def ListAdoptedOutfits(
        self, request: style_pb2.ListAdoptedOutfitsRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.ListAdoptedOutfitsResponse:
        violations = check_adoption(request.user_id, "-", None)
        await reject_invalid(context, violations, "ListAdoptedOutfitsRequest")
        adoptions = adopted(self.ledger, request.user_id)
        return style_pb2.ListAdoptedOutfitsResponse(outfit_ids=[o for o, _ in adoptions])

    async def LearnAdoptedOutfit(
        self, request: style_pb2.LearnAdoptedOutfitRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.LearnAdoptedOutfitResponse:
        response = style_pb2.LearnAdoptedOutfitResponse()
        return await apply_direct(self.ledger, LEARN_ADOPTED_OUTFIT, request, response, context)

    async def UnlearnAdoptedOutfit(
        self, request: style_pb2.UnlearnAdoptedOutfitRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.UnlearnAdoptedOutfitResponse:
        violations = check_adoption(request.user_id, request.outfit_id, None)
        await reject_invalid(context, violations, "UnlearnAdoptedOutfitRequest")
        key = idempotency_key(context) or ""
        removed = unlearn(self.ledger, request.user_id, request.outfit_id, key)
        return style_pb2.UnlearnAdoptedOutfitResponse(removed=removed)

    async def GetStyleHistory(
        self, request: style_pb2.GetStyleHistoryRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.GetStyleHistoryResponse:
        violations = validate_get_style_history(request)
        await reject_invalid(context, violations, "GetStyleHistoryRequest")
        history = self.store.history(request.user_id, request.max_snapshots or DEFAULT_SNAPSHOTS)
        return style_pb2.GetStyleHistoryResponse(
            snapshots=history.snapshots,
            current_profile=history.snapshots[-1],
            rising=history.rising,
            falling=history.falling,
            stability=history.stability,
        )


def add_to_server(server: grpc.aio.Server, data_dir: Path) -> Ledger:
    ledger = adoption_ledger(data_dir / "style.db")
    style_pb2_grpc.add_StyleProfileServiceServicer_to_server(StyleServicer(ledger), server)
    return ledger
