"""RecommendItems' answer: catalogue items filtered by budget, occasion and category, then ranked.

Items rank by how well they fit the taste (`Taste.fit`) and by how many of the given outfits lack
their category, so shoes come first for outfits that have none.
"""

from __future__ import annotations

from collections.abc import Sequence

from aura.common.v1 import fashion_pb2 as fp
from aura.recommendation.v1 import recommendation_pb2
from mock_services.catalogue import Taste, item_key, load_catalogue
from mock_services.catalogue.enums import Category, category_label, occasion_label
from mock_services.catalogue.taste import top_names
from mock_services.common.money import (
    CATALOGUE_CURRENCY,
    format_money,
    from_nanos,
    to_catalogue_nanos,
    to_nanos,
)

DEFAULT_RESULTS = 5
FIT_WEIGHT = 0.6
GAP_WEIGHT = 0.4
# How much a missing category matters: without shoes an outfit is unfinished, without a bag not.
_GAP_IMPORTANCE = {
    fp.GARMENT_CATEGORY_TOP: 1.0,
    fp.GARMENT_CATEGORY_BOTTOM: 1.0,
    fp.GARMENT_CATEGORY_SHOES: 1.0,
    fp.GARMENT_CATEGORY_OUTERWEAR: 0.4,
    fp.GARMENT_CATEGORY_ACCESSORY: 0.4,
}


def outfit_gaps(outfits: Sequence[fp.Outfit]) -> dict[Category, float]:
    """Category -> importance-weighted share of the outfits that lack it."""
    if not outfits:
        return {}
    lacking: dict[Category, int] = {}
    for outfit in outfits:
        present = {item.category for item in outfit.items}
        missing = set(_GAP_IMPORTANCE) - present
        if fp.GARMENT_CATEGORY_DRESS in present:
            missing -= {fp.GARMENT_CATEGORY_TOP, fp.GARMENT_CATEGORY_BOTTOM}
        for category in missing:
            lacking[category] = lacking.get(category, 0) + 1
    return {
        category: _GAP_IMPORTANCE[category] * count / len(outfits)
        for category, count in lacking.items()
    }


def _reason(item: fp.Item, taste: Taste, gap: float, budget: fp.Money | None) -> str:
    fit = taste.fit(item)
    parts: list[str] = []
    styles = top_names(taste.styles, list(fit.matched_styles))
    if styles:
        parts.append(f"fits your {' and '.join(styles)} style")
    if item.color in taste.palette:
        parts.append(f"{item.color} is in your palette")
    if gap > 0:
        parts.append(f"adds the {category_label(item.category)} your outfits lack")
    if fit.occasion == 1.0:
        parts.append(f"suits {occasion_label(taste.occasion)}")
    if fit.trending_styles:
        parts.append(f"on trend: {', '.join(fit.trending_styles)}")
    if budget is not None:
        parts.append(f"{format_money(item.price)} is within your {format_money(budget)} budget")
    return "; ".join(parts) or "a versatile piece"


def recommend_items(
    request: recommendation_pb2.RecommendItemsRequest,
) -> recommendation_pb2.RecommendItemsResponse:
    # Without an occasion in the request, the profile's latest one (if any) guides the ranking.
    taste = Taste.of(request.profile, request.occasion or request.profile.occasion, request.trends)
    budget = request.max_price if request.HasField("max_price") else None
    limit_nanos = to_catalogue_nanos(budget) if budget is not None else None
    owned = {item_key(item) for outfit in request.outfits for item in outfit.items}
    categories = set(request.categories)
    gaps = outfit_gaps(request.outfits)

    scored: list[tuple[float, fp.Item]] = []
    for item in load_catalogue().items:
        if limit_nanos is not None and to_catalogue_nanos(item.price) > limit_nanos:
            continue
        if request.occasion and request.occasion not in item.occasions:
            continue
        if (categories and item.category not in categories) or item.sku in owned:
            continue
        score = FIT_WEIGHT * taste.fit(item).score + GAP_WEIGHT * gaps.get(item.category, 0.0)
        score += taste.category_rank_bonus(item.category)
        scored.append((min(1.0, score), item))
    scored.sort(key=lambda pair: (-pair[0], pair[1].sku))
    chosen = scored[: request.max_results or DEFAULT_RESULTS]

    total = sum(to_nanos(item.price) for _, item in chosen)
    return recommendation_pb2.RecommendItemsResponse(
        recommendations=[
            recommendation_pb2.Recommendation(
                item=item,
                score=round(score, 4),
                reason=_reason(item, taste, gaps.get(item.category, 0.0), budget),
            )
            for score, item in chosen
        ],
        total_price=from_nanos(total, CATALOGUE_CURRENCY),
    )
