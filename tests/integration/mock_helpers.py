"""Helpers for tests of the mock services: health stubs, rich-status decoding, profiles.

The fixtures (`start_mock`, `open_channel`, `<service>_server`, `<service>_stub`) are in
tests/integration/mock_services/conftest.py; `mesh` is in tests/integration/conftest.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2_grpc
from grpc_status import rpc_status

from aura.common.v1 import fashion_pb2 as fp
from mock_services import MockServer

StartMock = Callable[..., Awaitable[MockServer]]
OpenChannel = Callable[[MockServer], grpc.aio.Channel]


def health_stub(channel: grpc.aio.Channel) -> health_pb2_grpc.HealthStub:
    return health_pb2_grpc.HealthStub(channel)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed call carried; fails the test when there is none."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status in {error!r}"
    return status


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """BadRequest field -> description, decoded from the call's status details."""
    violations: dict[str, str] = {}
    for detail in rich_status(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.update({v.field: v.description for v in bad_request.field_violations})
    return violations


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    for detail in rich_status(error).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def profile(
    styles: dict[str, float],
    palette: dict[str, float],
    user_id: str = "ada",
    occasion: fp.Occasion.ValueType = fp.OCCASION_UNSPECIFIED,
) -> fp.StyleProfile:
    """A style profile as the style service would send it."""
    return fp.StyleProfile(
        user_id=user_id,
        styles=[fp.StyleScore(style=name, score=score) for name, score in styles.items()],
        palette=[fp.Color(name=name, share=share) for name, share in palette.items()],
        occasion=occasion,
        version=1,
    )
