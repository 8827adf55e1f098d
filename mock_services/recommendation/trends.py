"""GetTrends' answer: deterministic style momentum per season, carried by catalogue items.

Momentum mixes a seasonal affinity (bohemian rises in summer, quiet luxury in winter) with a
per-season wobble derived from a hash, so each season of each year has its own stable picture.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from aura.common.v1 import fashion_pb2 as fp
from aura.recommendation.v1 import recommendation_pb2
from mock_services.catalogue import load_catalogue

DEFAULT_TRENDS = 5
EXAMPLE_ITEMS = 3
TREND_COLORS = 3
AFFINITY_WEIGHT = 0.7
WOBBLE_WEIGHT = 0.3
SEASON_PATTERN = re.compile(r"^(\d{4})-(spring|summer|autumn|fall|winter)$", re.IGNORECASE)

_AFFINITY: dict[str, dict[str, float]] = {
    "spring": {
        "romantic": 0.7,
        "bohemian": 0.5,
        "preppy": 0.3,
        "sporty": 0.2,
        "minimalist": 0.1,
        "classic": -0.1,
        "tailored": -0.1,
        "quiet-luxury": -0.2,
        "edgy": -0.4,
    },
    "summer": {
        "bohemian": 0.8,
        "sporty": 0.6,
        "romantic": 0.3,
        "streetwear": 0.3,
        "minimalist": 0.2,
        "preppy": 0.2,
        "classic": -0.2,
        "edgy": -0.3,
        "quiet-luxury": -0.4,
        "tailored": -0.6,
    },
    "autumn": {
        "quiet-luxury": 0.7,
        "tailored": 0.5,
        "preppy": 0.4,
        "classic": 0.3,
        "edgy": 0.2,
        "streetwear": 0.1,
        "romantic": -0.2,
        "bohemian": -0.3,
        "sporty": -0.4,
    },
    "winter": {
        "quiet-luxury": 0.8,
        "classic": 0.5,
        "minimalist": 0.4,
        "edgy": 0.3,
        "tailored": 0.2,
        "streetwear": 0.2,
        "romantic": 0.1,
        "preppy": -0.1,
        "sporty": -0.5,
        "bohemian": -0.6,
    },
}


@dataclass(frozen=True)
class Season:
    year: int
    name: str

    def __str__(self) -> str:
        return f"{self.year}-{self.name}"


def parse_season(text: str) -> Season | None:
    """A season from "2026-winter" ("fall" means autumn); None when malformed."""
    match = SEASON_PATTERN.match(text.strip())
    if not match:
        return None
    name = match.group(2).lower()
    return Season(int(match.group(1)), "autumn" if name == "fall" else name)


def current_season(today: datetime.date | None = None) -> Season:
    """Meteorological seasons; December belongs to the next year's winter."""
    today = today or datetime.date.today()
    if today.month == 12:
        return Season(today.year + 1, "winter")
    names = {
        1: "winter",
        2: "winter",
        3: "spring",
        4: "spring",
        5: "spring",
        6: "summer",
        7: "summer",
        8: "summer",
        9: "autumn",
        10: "autumn",
        11: "autumn",
    }
    return Season(today.year, names[today.month])


def _unit_hash(*parts: str) -> float:
    """A stable number in [0, 1) from the parts."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def momentum(style: str, season: Season) -> float:
    wobble = 2 * _unit_hash(str(season), style) - 1
    value = AFFINITY_WEIGHT * _AFFINITY[season.name].get(style, 0.0) + WOBBLE_WEIGHT * wobble
    return max(-1.0, min(1.0, value))


def trends_for(season: Season, occasion: int, limit: int) -> list[fp.Trend]:
    catalogue = load_catalogue()
    items = [item for item in catalogue.items if not occasion or occasion in item.occasions]
    trends = []
    for style in catalogue.styles:
        carriers = [item for item in items if style in item.style_tags]
        if not carriers:
            continue
        colors = Counter(item.color for item in carriers)
        top_colors = sorted(colors, key=lambda name: (-colors[name], name))[:TREND_COLORS]
        examples = sorted(carriers, key=lambda item: _unit_hash(str(season), item.sku))
        trends.append(
            fp.Trend(
                style=style,
                momentum=round(momentum(style, season), 3),
                colors=[catalogue.color(name, colors[name] / len(carriers)) for name in top_colors],
                example_items=examples[:EXAMPLE_ITEMS],
            )
        )
    trends.sort(key=lambda trend: (-abs(trend.momentum), trend.style))
    return trends[:limit]


def get_trends(
    request: recommendation_pb2.GetTrendsRequest, today: datetime.date | None = None
) -> recommendation_pb2.GetTrendsResponse:
    season = parse_season(request.season) if request.season else current_season(today)
    if season is None:
        raise ValueError(f"malformed season {request.season!r}")  # validation rejects it first
    limit = request.max_trends or DEFAULT_TRENDS
    return recommendation_pb2.GetTrendsResponse(
        trends=trends_for(season, request.occasion, limit), season=str(season)
    )
