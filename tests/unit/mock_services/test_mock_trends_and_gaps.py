"""Seasonal trends and outfit gaps of the mock recommendation service, without a server."""

from __future__ import annotations

import datetime

import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.recommendation.v1 import recommendation_pb2
from mock_services.recommendation import current_season, get_trends, outfit_gaps, parse_season
from mock_services.recommendation.trends import Season, momentum


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-winter", "2026-winter"),
        ("2025-Fall", "2025-autumn"),
        (" 2027-SUMMER ", "2027-summer"),
    ],
)
def test_seasons_are_parsed_and_normalised(text: str, expected: str) -> None:
    assert str(parse_season(text)) == expected


@pytest.mark.parametrize("text", ["winter-2026", "2026", "2026-monsoon", ""])
def test_malformed_seasons_are_refused(text: str) -> None:
    assert parse_season(text) is None


@pytest.mark.parametrize(
    ("day", "season"),
    [
        (datetime.date(2026, 1, 15), "2026-winter"),
        (datetime.date(2026, 4, 1), "2026-spring"),
        (datetime.date(2026, 7, 31), "2026-summer"),
        (datetime.date(2026, 10, 10), "2026-autumn"),
        (datetime.date(2025, 12, 24), "2026-winter"),
    ],
)
def test_the_current_season_follows_the_calendar(day: datetime.date, season: str) -> None:
    assert str(current_season(day)) == season


def test_momentum_is_bounded_deterministic_and_seasonal() -> None:
    summer, winter = Season(2026, "summer"), Season(2026, "winter")
    assert momentum("bohemian", summer) == momentum("bohemian", summer)
    assert momentum("bohemian", summer) > momentum("bohemian", winter)
    assert momentum("quiet-luxury", winter) > momentum("quiet-luxury", summer)
    styles = ["minimalist", "classic", "edgy", "sporty", "tailored"]
    assert all(-1 <= momentum(s, season) <= 1 for s in styles for season in (summer, winter))


def test_without_a_season_the_current_one_is_used() -> None:
    response = get_trends(recommendation_pb2.GetTrendsRequest(), datetime.date(2026, 8, 1))
    assert response.season == "2026-summer"


def outfit(*categories: fp.GarmentCategory.ValueType) -> fp.Outfit:
    return fp.Outfit(items=[fp.Item(category=category) for category in categories])


def test_gaps_count_the_outfits_lacking_each_category() -> None:
    gaps = outfit_gaps(
        [
            outfit(fp.GARMENT_CATEGORY_TOP, fp.GARMENT_CATEGORY_BOTTOM),
            outfit(fp.GARMENT_CATEGORY_DRESS, fp.GARMENT_CATEGORY_SHOES),
        ]
    )
    assert gaps[fp.GARMENT_CATEGORY_SHOES] == pytest.approx(0.5)
    assert gaps[fp.GARMENT_CATEGORY_ACCESSORY] == pytest.approx(0.4)
    assert fp.GARMENT_CATEGORY_TOP not in gaps  # a dress needs no top
    assert outfit_gaps([]) == {}
