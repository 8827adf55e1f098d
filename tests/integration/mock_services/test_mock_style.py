"""The style mock over gRPC: profiles that evidence moves, idempotent updates, history."""

from __future__ import annotations

import grpc
import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.style.v1 import style_pb2, style_pb2_grpc
from mock_services import IDEMPOTENCY_KEY_HEADER, MockServer
from tests.integration.mock_helpers import field_violations

pytestmark = pytest.mark.integration
Stub = style_pb2_grpc.StyleProfileServiceStub


def evidence(user_id: str, *keywords: str) -> style_pb2.BuildStyleProfileRequest:
    return style_pb2.BuildStyleProfileRequest(
        user_id=user_id,
        text_style_keywords=keywords,
        observed_colors=[fp.Color(name="navy", share=0.6), fp.Color(name="grey", share=0.4)],
        observed_garments=[
            fp.Garment(category=fp.GARMENT_CATEGORY_OUTERWEAR, color="navy", confidence=0.9)
        ],
        occasion=fp.OCCASION_OFFICE,
    )


async def test_an_unknown_user_gets_a_cold_start_profile(style_stub: Stub) -> None:
    request = style_pb2.GetStyleProfileRequest(user_id="newcomer")
    first = (await style_stub.GetStyleProfile(request)).profile
    again = (await style_stub.GetStyleProfile(request)).profile
    assert first == again
    assert first.cold_start and first.version == 0
    assert sum(s.score for s in first.styles) == pytest.approx(1.0, abs=1e-5)


async def test_building_a_profile_merges_evidence_and_is_then_current(style_stub: Stub) -> None:
    built = (await style_stub.BuildStyleProfile(evidence("ada", "minimalist"))).profile
    current = (
        await style_stub.GetStyleProfile(style_pb2.GetStyleProfileRequest(user_id="ada"))
    ).profile
    assert current == built
    assert (built.version, built.cold_start) == (1, False)
    assert built.styles[0].style == "minimalist"
    assert built.palette[0].name == "navy"
    assert built.preferred_categories[0] == fp.GARMENT_CATEGORY_OUTERWEAR
    assert built.occasion == fp.OCCASION_OFFICE
    assert built.HasField("update_time")


async def test_the_idempotency_key_applies_evidence_once(
    style_stub: Stub, style_server: MockServer
) -> None:
    key = ((IDEMPOTENCY_KEY_HEADER, "run-42/build_profile"),)
    first = await style_stub.BuildStyleProfile(evidence("ada", "edgy"), metadata=key)
    retry = await style_stub.BuildStyleProfile(evidence("ada", "edgy"), metadata=key)
    assert retry == first
    assert style_server.last_idempotency_key == "run-42/build_profile"
    assert style_server.calls["BuildStyleProfile"] == 2
    current = await style_stub.GetStyleProfile(style_pb2.GetStyleProfileRequest(user_id="ada"))
    assert current.profile.version == 1
    other_key = ((IDEMPOTENCY_KEY_HEADER, "run-43/build_profile"),)
    second = await style_stub.BuildStyleProfile(evidence("ada", "edgy"), metadata=other_key)
    assert second.profile.version == 2


async def test_history_tracks_how_the_style_shifted(style_stub: Stub) -> None:
    for keywords in (["classic"], ["streetwear"], ["streetwear", "edgy"]):
        await style_stub.BuildStyleProfile(evidence("ada", *keywords))
    history = await style_stub.GetStyleHistory(style_pb2.GetStyleHistoryRequest(user_id="ada"))
    assert [s.version for s in history.snapshots] == [1, 2, 3]
    assert history.current_profile == history.snapshots[-1]
    assert history.rising[0].style == "streetwear"
    assert history.falling[0].style == "classic"
    assert [r.delta for r in history.rising] == sorted(
        (r.delta for r in history.rising), reverse=True
    )
    assert 0 < history.stability < 1


async def test_history_of_a_new_user_is_its_cold_start_profile(style_stub: Stub) -> None:
    history = await style_stub.GetStyleHistory(style_pb2.GetStyleHistoryRequest(user_id="nobody"))
    assert len(history.snapshots) == 1 and history.current_profile.cold_start
    assert history.stability == 1.0


@pytest.mark.parametrize(
    ("call", "request_message", "field"),
    [
        ("BuildStyleProfile", style_pb2.BuildStyleProfileRequest(), "user_id"),
        (
            "BuildStyleProfile",
            style_pb2.BuildStyleProfileRequest(
                user_id="ada", observed_garments=[fp.Garment(confidence=0.5)]
            ),
            "observed_garments[0].category",
        ),
        (
            "BuildStyleProfile",
            style_pb2.BuildStyleProfileRequest(
                user_id="ada",
                observed_garments=[fp.Garment(category=fp.GARMENT_CATEGORY_TOP, confidence=1.5)],
            ),
            "observed_garments[0].confidence",
        ),
        (
            "BuildStyleProfile",
            style_pb2.BuildStyleProfileRequest(user_id="ada", text_style_keywords=[""]),
            "text_style_keywords[0]",
        ),
        (
            "BuildStyleProfile",
            style_pb2.BuildStyleProfileRequest(
                user_id="ada", observed_colors=[fp.Color(name="navy", hex="blue")]
            ),
            "observed_colors[0].hex",
        ),
        ("GetStyleProfile", style_pb2.GetStyleProfileRequest(), "user_id"),
        ("GetStyleHistory", style_pb2.GetStyleHistoryRequest(), "user_id"),
        (
            "GetStyleHistory",
            style_pb2.GetStyleHistoryRequest(user_id="ada", max_snapshots=101),
            "max_snapshots",
        ),
        (
            "GetStyleHistory",
            style_pb2.GetStyleHistoryRequest(user_id="ada", max_snapshots=-1),
            "max_snapshots",
        ),
    ],
)
async def test_bad_requests_get_invalid_argument_with_the_field(
    style_stub: Stub, call: str, request_message: object, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(style_stub, call)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(caught.value)


async def test_a_rejected_update_changes_nothing(style_stub: Stub) -> None:
    await style_stub.BuildStyleProfile(evidence("ada", "classic"))
    bad = style_pb2.BuildStyleProfileRequest(user_id="ada", occasion=99)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError):
        await style_stub.BuildStyleProfile(bad)
    current = await style_stub.GetStyleProfile(style_pb2.GetStyleProfileRequest(user_id="ada"))
    assert current.profile.version == 1
