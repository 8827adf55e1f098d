"""The combination mock over gRPC: complete outfits that follow taste, occasion and trends."""

from __future__ import annotations

import grpc
import pytest

from aura.combination.v1 import combination_pb2, combination_pb2_grpc
from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue import NEUTRAL_COLORS, load_catalogue
from tests.integration.mock_helpers import field_violations, profile

pytestmark = pytest.mark.integration
Stub = combination_pb2_grpc.CombinationEngineServiceStub

MINIMALIST_NAVY = profile({"minimalist": 0.6, "classic": 0.4}, {"navy": 0.6, "grey": 0.4})
ROMANTIC_PINK = profile({"romantic": 0.6, "bohemian": 0.4}, {"pink": 0.5, "lavender": 0.5})


async def outfits(stub: Stub, **fields: object) -> list[fp.Outfit]:
    request = combination_pb2.GenerateOutfitsRequest(**fields)  # type: ignore[arg-type]
    return list((await stub.GenerateOutfits(request)).outfits)


def categories(outfit: fp.Outfit) -> set[int]:
    return {item.category for item in outfit.items}


async def test_outfits_are_complete_best_first_and_explained(combination_stub: Stub) -> None:
    result = await outfits(combination_stub, profile=MINIMALIST_NAVY, occasion=fp.OCCASION_OFFICE)
    assert len(result) == 3
    assert [o.score for o in result] == sorted((o.score for o in result), reverse=True)
    for outfit in result:
        kinds = categories(outfit)
        assert {fp.GARMENT_CATEGORY_TOP, fp.GARMENT_CATEGORY_BOTTOM} <= kinds or (
            fp.GARMENT_CATEGORY_DRESS in kinds
        )
        assert fp.GARMENT_CATEGORY_SHOES in kinds
        assert fp.GARMENT_CATEGORY_OUTERWEAR in kinds  # the office calls for a layer
        assert outfit.outfit_id.startswith("outfit-")
        assert "office" in outfit.rationale and 0 < outfit.score <= 1
    assert len({o.outfit_id for o in result}) == 3


async def test_the_palette_and_styles_steer_the_outfits(combination_stub: Stub) -> None:
    navy = (await outfits(combination_stub, profile=MINIMALIST_NAVY))[0]
    pink = (await outfits(combination_stub, profile=ROMANTIC_PINK))[0]
    navy_colors = {item.color for item in navy.items}
    pink_colors = {item.color for item in pink.items}
    assert navy_colors & {"navy", "grey"} and not navy_colors & {"pink", "lavender"}
    assert pink_colors & {"pink", "lavender"}
    assert "in your palette" in navy.rationale and "minimalist" in navy.rationale
    assert any("romantic" in item.style_tags for item in pink.items)


async def test_the_occasion_picks_items_made_for_it(combination_stub: Stub) -> None:
    best = (await outfits(combination_stub, profile=MINIMALIST_NAVY, occasion=fp.OCCASION_SPORT))[0]
    assert sum(fp.OCCASION_SPORT in item.occasions for item in best.items) >= len(best.items) - 1


async def test_the_same_request_gives_the_same_outfit_ids(combination_stub: Stub) -> None:
    first = await outfits(combination_stub, profile=ROMANTIC_PINK, max_outfits=5)
    again = await outfits(combination_stub, profile=ROMANTIC_PINK, max_outfits=5)
    assert [o.outfit_id for o in first] == [o.outfit_id for o in again]
    assert len(first) == 5


async def test_a_wardrobe_is_used_instead_of_the_catalogue(combination_stub: Stub) -> None:
    wardrobe = [
        fp.Item(name="Old Band Tee", category=fp.GARMENT_CATEGORY_TOP, color="black"),
        fp.Item(name="Grey Tee", category=fp.GARMENT_CATEGORY_TOP, color="grey"),
        fp.Item(name="Blue Jeans", category=fp.GARMENT_CATEGORY_BOTTOM, color="blue"),
    ]
    result = await outfits(combination_stub, profile=MINIMALIST_NAVY, wardrobe=wardrobe)
    names = {item.name for outfit in result for item in outfit.items}
    assert names <= {item.name for item in wardrobe}
    assert len(result) == 2  # two tops, one pair of jeans, no shoes to add
    assert all(fp.GARMENT_CATEGORY_SHOES not in categories(o) for o in result)
    assert result[0].items[0].name == "Grey Tee"  # grey is in the palette


async def test_rising_trends_lift_the_items_that_carry_them(combination_stub: Stub) -> None:
    wardrobe = [
        item
        for item in load_catalogue().items
        if item.sku in {"TOP-002", "TOP-004", "BTM-001", "SHO-001"}
    ]
    edgy = fp.Trend(style="quiet-luxury", momentum=0.9)
    plain = await outfits(combination_stub, profile=MINIMALIST_NAVY, wardrobe=wardrobe)
    trendy = await outfits(
        combination_stub, profile=MINIMALIST_NAVY, wardrobe=wardrobe, trends=[edgy]
    )
    with_camisole = {o.outfit_id: o for o in trendy if "TOP-004" in [i.sku for i in o.items]}
    before = {o.outfit_id: o.score for o in plain}
    assert with_camisole
    for outfit_id, outfit in with_camisole.items():
        assert outfit.score > before[outfit_id]
        assert "on trend: quiet-luxury" in outfit.rationale


async def test_outfits_keep_a_calm_colour_balance(combination_stub: Stub) -> None:
    for outfit in await outfits(combination_stub, profile=MINIMALIST_NAVY, max_outfits=10):
        accents = {item.color for item in outfit.items} - NEUTRAL_COLORS
        assert len(accents) <= 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "profile"),
        ({"profile": MINIMALIST_NAVY, "max_outfits": 21}, "max_outfits"),
        ({"profile": MINIMALIST_NAVY, "max_outfits": -2}, "max_outfits"),
        ({"profile": MINIMALIST_NAVY, "wardrobe": [fp.Item(name="?")]}, "wardrobe[0].category"),
        (
            {
                "profile": MINIMALIST_NAVY,
                "wardrobe": [
                    fp.Item(
                        category=fp.GARMENT_CATEGORY_TOP,
                        price=fp.Money(currency_code="EUR", units=5, nanos=-1),
                    )
                ],
            },
            "wardrobe[0].price.nanos",
        ),
        (
            {"profile": profile({"classic": 1.5}, {"navy": 1.0})},
            "profile.styles[0].score",
        ),
        (
            {"profile": MINIMALIST_NAVY, "trends": [fp.Trend(style="edgy", momentum=3)]},
            "trends[0].momentum",
        ),
    ],
)
async def test_bad_requests_get_invalid_argument_with_the_field(
    combination_stub: Stub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await outfits(combination_stub, **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(caught.value)
