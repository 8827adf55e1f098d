"""The StyleProfileService mock."""

from __future__ import annotations

import grpc

from aura.style.v1 import style_pb2, style_pb2_grpc
from mock_services.common.interceptor import IDEMPOTENCY_KEY_HEADER
from mock_services.common.validation import reject_invalid
from mock_services.style.profiles import ProfileStore
from mock_services.style.validation import (
    validate_build_style_profile,
    validate_get_style_history,
    validate_get_style_profile,
)

DEFAULT_SNAPSHOTS = 20


def _idempotency_key(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == IDEMPOTENCY_KEY_HEADER and isinstance(value, str) and value:
            return value
    return None


class StyleServicer(style_pb2_grpc.StyleProfileServiceServicer):
    def __init__(self, store: ProfileStore | None = None) -> None:
        self.store = store or ProfileStore()

    async def BuildStyleProfile(
        self, request: style_pb2.BuildStyleProfileRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.BuildStyleProfileResponse:
        violations = validate_build_style_profile(request)
        await reject_invalid(context, violations, "BuildStyleProfileRequest")
        return self.store.build(request, _idempotency_key(context))

    async def GetStyleProfile(
        self, request: style_pb2.GetStyleProfileRequest, context: grpc.aio.ServicerContext
    ) -> style_pb2.GetStyleProfileResponse:
        await reject_invalid(context, validate_get_style_profile(request), "GetStyleProfileRequest")
        return style_pb2.GetStyleProfileResponse(profile=self.store.current(request.user_id))

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


def add_to_server(server: grpc.aio.Server) -> None:
    style_pb2_grpc.add_StyleProfileServiceServicer_to_server(StyleServicer(), server)
