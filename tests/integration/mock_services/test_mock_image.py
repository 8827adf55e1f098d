"""The image mock over gRPC: deterministic, URI-steered analysis and request validation."""

from __future__ import annotations

import grpc
import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.image.v1 import image_pb2, image_pb2_grpc
from tests.integration.mock_helpers import field_violations

pytestmark = pytest.mark.integration
Stub = image_pb2_grpc.ImageProcessingServiceStub


async def analyze(stub: Stub, **fields: object) -> image_pb2.AnalyzeImageResponse:
    response: image_pb2.AnalyzeImageResponse = await stub.AnalyzeImage(
        image_pb2.AnalyzeImageRequest(**fields)  # type: ignore[arg-type]
    )
    return response


async def test_the_same_image_always_reads_the_same(image_stub: Stub) -> None:
    uri = "https://cdn.example.com/looks/4711.jpg"
    first, second = (
        await analyze(image_stub, image_uri=uri),
        await analyze(image_stub, image_uri=uri),
    )
    other = await analyze(image_stub, image_uri="https://cdn.example.com/looks/4712.jpg")
    assert first == second
    assert first.image_id.startswith("img-")
    assert other.image_id != first.image_id


async def test_content_identifies_the_image_whatever_its_uri(image_stub: Stub) -> None:
    data = b"\x89PNG\r\n\x1a\n pretend pixels"
    one = await analyze(image_stub, image_data=data, image_uri="https://a.example/1.png")
    two = await analyze(image_stub, image_data=data, image_uri="https://b.example/2.png")
    assert one.image_id == two.image_id
    assert one.dominant_colors == two.dominant_colors


async def test_words_in_the_uri_steer_colours_and_garments(image_stub: Stub) -> None:
    response = await analyze(image_stub, image_uri="https://shop.example/navy-blazer.jpg")
    assert response.dominant_colors[0].name == "navy"
    assert response.dominant_colors[0].hex == "#1f2a44"
    top_garment = response.garments[0]
    assert (top_garment.category, top_garment.color) == (fp.GARMENT_CATEGORY_OUTERWEAR, "navy")
    assert top_garment.confidence >= 0.9


async def test_a_floral_dress_reads_as_a_romantic_floral_dress(image_stub: Stub) -> None:
    response = await analyze(image_stub, image_uri="https://shop.example/yellow_floral_dress.png")
    dress = response.garments[0]
    assert (dress.category, dress.pattern, dress.color) == (
        fp.GARMENT_CATEGORY_DRESS,
        fp.PATTERN_FLORAL,
        "yellow",
    )
    assert {"romantic", "bohemian"} & set(response.style_tags)
    assert fp.GARMENT_CATEGORY_BOTTOM not in [g.category for g in response.garments]


async def test_colours_and_garments_come_largest_and_surest_first(image_stub: Stub) -> None:
    response = await analyze(image_stub, image_data=b"some other picture")
    shares = [color.share for color in response.dominant_colors]
    confidences = [garment.confidence for garment in response.garments]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1.0, abs=0.01)
    assert confidences == sorted(confidences, reverse=True)
    assert response.style_tags


async def test_max_garments_caps_the_garments(image_stub: Stub) -> None:
    uri = "https://shop.example/white-shirt-grey-trousers-loafers-coat-watch.jpg"
    assert len((await analyze(image_stub, image_uri=uri)).garments) == 5
    assert len((await analyze(image_stub, image_uri=uri, max_garments=2)).garments) == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "image_uri"),
        ({"user_id": "ada"}, "image_uri"),
        ({"image_uri": "not a uri"}, "image_uri"),
        ({"image_uri": "https://x.example/a.jpg", "max_garments": -1}, "max_garments"),
        ({"image_uri": "https://x.example/a.jpg", "max_garments": 21}, "max_garments"),
        ({"image_data": b"x" * (8 * 1024 * 1024 + 1)}, "image_data"),
    ],
)
async def test_bad_requests_get_invalid_argument_with_the_field(
    image_stub: Stub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await analyze(image_stub, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(caught.value)
