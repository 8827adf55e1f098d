"""Mock RecommendationEngineService: budget-filtered, taste-ranked items and seasonal trends."""

from mock_services.recommendation.ranking import outfit_gaps, recommend_items
from mock_services.recommendation.servicer import RecommendationServicer
from mock_services.recommendation.trends import current_season, get_trends, parse_season
from mock_services.recommendation.validation import validate_get_trends, validate_recommend_items

__all__ = [
    "RecommendationServicer",
    "current_season",
    "get_trends",
    "outfit_gaps",
    "parse_season",
    "recommend_items",
    "validate_get_trends",
    "validate_recommend_items",
]
