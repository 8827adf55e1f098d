"""How well an item fits a person's taste, an occasion and the current trends.

One scoring rule shared by outfit building and item recommendation, so both services agree on
what "fits" means. Every component is in 0..1 and is kept, so answers can explain themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue.enums import Category, OccasionKind

# Weights of the components of an item's fit; they sum to 1. The occasion carries half, so an
# item made for the occasion outranks one that is not, and taste decides among the suitable ones.
OCCASION_WEIGHT = 0.5
STYLE_WEIGHT = 0.225
COLOR_WEIGHT = 0.2
TREND_WEIGHT = 0.075


@dataclass(frozen=True)
class ItemFit:
    style: float
    color: float
    occasion: float
    trend: float
    matched_styles: tuple[str, ...]
    trending_styles: tuple[str, ...]

    @property
    def score(self) -> float:
        return (
            STYLE_WEIGHT * self.style
            + COLOR_WEIGHT * self.color
            + OCCASION_WEIGHT * self.occasion
            + TREND_WEIGHT * self.trend
        )


@dataclass(frozen=True)
class Taste:
    """A profile, an occasion and trends, reduced to lookups.

    `occasion` OCCASION_UNSPECIFIED means no occasion preference.
    """

    styles: dict[str, float]
    palette: dict[str, float]
    occasion: OccasionKind
    trend_styles: dict[str, float]
    trend_colors: dict[str, float]
    preferred_categories: tuple[Category, ...]

    @classmethod
    def of(
        cls,
        profile: fp.StyleProfile,
        occasion: OccasionKind = fp.OCCASION_UNSPECIFIED,
        trends: Iterable[fp.Trend] = (),
    ) -> Taste:
        styles = {score.style.lower(): score.score for score in profile.styles}
        palette_total = sum(color.share for color in profile.palette)
        palette = {
            color.name.lower(): (color.share / palette_total if palette_total else 1.0)
            for color in profile.palette
        }
        trend_styles: dict[str, float] = {}
        trend_colors: dict[str, float] = {}
        for trend in trends:
            rising = max(0.0, trend.momentum)
            style = trend.style.lower()
            trend_styles[style] = max(trend_styles.get(style, 0.0), rising)
            for color in trend.colors:
                name = color.name.lower()
                trend_colors[name] = max(trend_colors.get(name, 0.0), rising)
        return cls(
            styles=styles,
            palette=palette,
            occasion=occasion,
            trend_styles=trend_styles,
            trend_colors=trend_colors,
            preferred_categories=tuple(profile.preferred_categories),
        )

    def fit(self, item: fp.Item) -> ItemFit:
        tags = [tag.lower() for tag in item.style_tags]
        matched = tuple(tag for tag in tags if self.styles.get(tag, 0.0) > 0)
        style = min(1.0, sum(self.styles.get(tag, 0.0) for tag in tags) * 2)
        top_share = max(self.palette.values(), default=0.0)
        color = self.palette.get(item.color.lower(), 0.0) / top_share if top_share else 0.0
        # Without an occasion, or for an item that names none, the occasion neither helps nor hurts.
        if self.occasion == fp.OCCASION_UNSPECIFIED or not item.occasions:
            occasion = 0.5
        else:
            occasion = float(self.occasion in item.occasions)
        trending = tuple(tag for tag in tags if self.trend_styles.get(tag, 0.0) > 0)
        trend = max(
            [self.trend_styles.get(tag, 0.0) for tag in tags]
            + [0.5 * self.trend_colors.get(item.color.lower(), 0.0)]
        )
        return ItemFit(style, color, occasion, trend, matched, trending)

    def category_rank_bonus(self, category: Category) -> float:
        """A small bonus for the categories a person wears most, largest for the first."""
        if category not in self.preferred_categories:
            return 0.0
        return 0.05 / (1 + self.preferred_categories.index(category))


def top_names(weights: dict[str, float], names: Sequence[str], limit: int = 2) -> list[str]:
    """The `limit` names with the highest weight, highest first (ties in the given order)."""
    present = [name for name in names if weights.get(name, 0.0) > 0]
    return sorted(present, key=lambda name: -weights[name])[:limit]
