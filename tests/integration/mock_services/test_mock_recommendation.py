"""The recommendation mock over gRPC: budget, occasion and category filters, ranking, trends."""

from __future__ import annotations

import grpc
import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.recommendation.v1 import recommendation_pb2 as rp
from aura.recommendation.v1 import recommendation_pb2_grpc
from mock_services.catalogue import load_catalogue
from mock_services.common.money import from_decimal, to_nanos
from tests.integration.mock_helpers import field_violations, profile

pytestmark = pytest.mark.integration
Stub = recommendation_pb2_grpc.RecommendationEngineServiceStub

MINIMALIST_NAVY = profile({"minimalist": 0.6, "classic": 0.4}, {"navy": 0.6, "grey": 0.4})


async def recommend(stub: Stub, **fields: object) -> rp.RecommendItemsResponse:
    fields.setdefault("profile", MINIMALIST_NAVY)
    response: rp.RecommendItemsResponse = await stub.RecommendItems(
        rp.RecommendItemsRequest(**fields)  # type: ignore[arg-type]
    )
    return response


def euros(amount: str) -> fp.Money:
    return from_decimal(amount, "EUR")


async def test_the_budget_really_filters(recommendation_stub: Stub) -> None:
    unbounded = await recommend(recommendation_stub, max_results=50)
    cheap = await recommend(recommendation_stub, max_price=euros("60"), max_results=50)
    assert max(to_nanos(r.item.price) for r in unbounded.recommendations) > to_nanos(euros("60"))
    assert cheap.recommendations
    assert all(to_nanos(r.item.price) <= to_nanos(euros("60")) for r in cheap.recommendations)
    expected = sum(1 for item in load_catalogue().items if to_nanos(item.price) <= 60 * 10**9)
    assert len(cheap.recommendations) == expected


async def test_a_budget_in_dollars_is_converted(recommendation_stub: Stub) -> None:
    dollars = fp.Money(currency_code="USD", units=100)  # 92 EUR at the mock's rate
    response = await recommend(recommendation_stub, max_price=dollars, max_results=50)
    prices = [to_nanos(r.item.price) for r in response.recommendations]
    assert max(prices) <= 92 * 10**9
    assert any(price > 89 * 10**9 for price in prices)


async def test_total_price_is_the_sum_of_the_recommended_items(recommendation_stub: Stub) -> None:
    response = await recommend(recommendation_stub, max_results=7)
    assert len(response.recommendations) == 7
    assert response.total_price.currency_code == "EUR"
    assert to_nanos(response.total_price) == sum(
        to_nanos(r.item.price) for r in response.recommendations
    )


async def test_occasion_and_categories_filter(recommendation_stub: Stub) -> None:
    response = await recommend(
        recommendation_stub,
        occasion=fp.OCCASION_FORMAL,
        categories=[fp.GARMENT_CATEGORY_SHOES, fp.GARMENT_CATEGORY_DRESS],
        max_results=50,
    )
    assert response.recommendations
    for recommendation in response.recommendations:
        assert fp.OCCASION_FORMAL in recommendation.item.occasions
        assert recommendation.item.category in (
            fp.GARMENT_CATEGORY_SHOES,
            fp.GARMENT_CATEGORY_DRESS,
        )


async def test_items_rank_by_taste_best_first(recommendation_stub: Stub) -> None:
    response = await recommend(recommendation_stub, occasion=fp.OCCASION_OFFICE)
    scores = [r.score for r in response.recommendations]
    assert scores == sorted(scores, reverse=True)
    best = response.recommendations[0]
    assert best.item.color in {"navy", "grey"}
    assert "palette" in best.reason and "suits office" in best.reason


async def test_items_completing_the_given_outfits_come_first(recommendation_stub: Stub) -> None:
    catalogue = load_catalogue()
    shoeless = fp.Outfit(
        items=[
            catalogue.by_sku("TOP-001"),
            catalogue.by_sku("BTM-001"),
            catalogue.by_sku("OUT-001"),
        ]
    )
    response = await recommend(
        recommendation_stub, outfits=[shoeless], occasion=fp.OCCASION_OFFICE, max_results=3
    )
    top = response.recommendations[0]
    assert top.item.category == fp.GARMENT_CATEGORY_SHOES
    assert "adds the shoes your outfits lack" in top.reason
    assert not {"TOP-001", "BTM-001", "OUT-001"} & {r.item.sku for r in response.recommendations}


async def test_trends_are_deterministic_sorted_and_bounded(recommendation_stub: Stub) -> None:
    request = rp.GetTrendsRequest(season="2026-winter", max_trends=10)
    first, again = (
        await recommendation_stub.GetTrends(request),
        await recommendation_stub.GetTrends(request),
    )
    assert first == again
    assert first.season == "2026-winter"
    strengths = [abs(t.momentum) for t in first.trends]
    assert strengths == sorted(strengths, reverse=True)
    assert all(-1 <= t.momentum <= 1 for t in first.trends)
    for trend in first.trends:
        assert trend.colors and all(c.hex.startswith("#") for c in trend.colors)
        assert trend.example_items
        assert all(trend.style in item.style_tags for item in trend.example_items)


async def test_trends_differ_by_season(recommendation_stub: Stub) -> None:
    summer = await recommendation_stub.GetTrends(
        rp.GetTrendsRequest(season="2026-summer", max_trends=20)
    )
    winter = await recommendation_stub.GetTrends(
        rp.GetTrendsRequest(season="2026-winter", max_trends=20)
    )
    summer_momentum = {t.style: t.momentum for t in summer.trends}
    winter_momentum = {t.style: t.momentum for t in winter.trends}
    assert summer_momentum["bohemian"] > winter_momentum["bohemian"]
    assert winter_momentum["quiet-luxury"] > summer_momentum["quiet-luxury"]


async def test_trends_for_an_occasion_show_items_for_it(recommendation_stub: Stub) -> None:
    response = await recommendation_stub.GetTrends(
        rp.GetTrendsRequest(occasion=fp.OCCASION_SPORT, season="2026-spring")
    )
    assert 0 < len(response.trends) <= 5
    for trend in response.trends:
        assert all(fp.OCCASION_SPORT in item.occasions for item in trend.example_items)


async def test_without_a_season_trends_are_for_the_current_one(recommendation_stub: Stub) -> None:
    response = await recommendation_stub.GetTrends(rp.GetTrendsRequest())
    assert response.season and len(response.trends) == 5


@pytest.mark.parametrize(
    ("call", "request_message", "field"),
    [
        ("RecommendItems", rp.RecommendItemsRequest(), "profile"),
        (
            "RecommendItems",
            rp.RecommendItemsRequest(
                profile=MINIMALIST_NAVY, max_price=fp.Money(currency_code="euro", units=1)
            ),
            "max_price.currency_code",
        ),
        (
            "RecommendItems",
            rp.RecommendItemsRequest(
                profile=MINIMALIST_NAVY, max_price=fp.Money(currency_code="EUR", units=-5)
            ),
            "max_price.units",
        ),
        (
            "RecommendItems",
            rp.RecommendItemsRequest(
                profile=MINIMALIST_NAVY,
                max_price=fp.Money(currency_code="EUR", units=5, nanos=-100),
            ),
            "max_price.nanos",
        ),
        (
            "RecommendItems",
            rp.RecommendItemsRequest(profile=MINIMALIST_NAVY, max_results=51),
            "max_results",
        ),
        (
            "RecommendItems",
            rp.RecommendItemsRequest(
                profile=MINIMALIST_NAVY, categories=[fp.GARMENT_CATEGORY_UNSPECIFIED]
            ),
            "categories[0]",
        ),
        ("GetTrends", rp.GetTrendsRequest(season="winter-2026"), "season"),
        ("GetTrends", rp.GetTrendsRequest(season="3026-winter"), "season"),
        ("GetTrends", rp.GetTrendsRequest(max_trends=-1), "max_trends"),
        ("GetTrends", rp.GetTrendsRequest(max_trends=21), "max_trends"),
    ],
)
async def test_bad_requests_get_invalid_argument_with_the_field(
    recommendation_stub: Stub, call: str, request_message: object, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(recommendation_stub, call)(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(caught.value)
