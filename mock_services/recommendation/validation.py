"""What makes RecommendationEngineService requests acceptable."""

from __future__ import annotations

from aura.common.v1 import fashion_pb2 as fp
from aura.recommendation.v1 import recommendation_pb2
from mock_services.common.validation import Violations
from mock_services.recommendation.trends import parse_season

MAX_RESULTS = 50
MAX_TRENDS = 20
MAX_OUTFITS = 50
MIN_YEAR, MAX_YEAR = 1900, 2200


def validate_recommend_items(request: recommendation_pb2.RecommendItemsRequest) -> Violations:
    violations = Violations()
    if not request.HasField("profile"):
        violations.add("profile", "is required")
    else:
        violations.profile(request.profile, "profile")
    if request.HasField("max_price"):
        violations.money(request.max_price, "max_price")
    violations.enum(request.occasion, fp.Occasion, "occasion", allow_unspecified=True)
    if len(request.outfits) > MAX_OUTFITS:
        violations.add("outfits", f"must have at most {MAX_OUTFITS} entries")
    for outfit_index, outfit in enumerate(request.outfits):
        for item_index, item in enumerate(outfit.items):
            violations.item(item, f"outfits[{outfit_index}].items[{item_index}]")
    for index, category in enumerate(request.categories):
        violations.enum(
            category, fp.GarmentCategory, f"categories[{index}]", allow_unspecified=False
        )
    violations.trends(request.trends)
    violations.int_range(request.max_results, "max_results", 0, MAX_RESULTS)
    return violations


def validate_get_trends(request: recommendation_pb2.GetTrendsRequest) -> Violations:
    violations = Violations()
    violations.enum(request.occasion, fp.Occasion, "occasion", allow_unspecified=True)
    violations.int_range(request.max_trends, "max_trends", 0, MAX_TRENDS)
    if request.season:
        season = parse_season(request.season)
        if season is None:
            violations.add("season", "must look like 2026-winter (spring, summer, autumn, winter)")
        elif not MIN_YEAR <= season.year <= MAX_YEAR:
            violations.add("season", f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return violations
