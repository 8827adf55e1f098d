"""A user's taste as weights, how evidence moves it, and how it renders as a StyleProfile."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from aura.common.v1 import fashion_pb2 as fp
from aura.style.v1 import style_pb2
from mock_services.catalogue import NEUTRAL_COLORS, load_catalogue
from mock_services.catalogue.enums import Category, OccasionKind
from mock_services.catalogue.vocabulary import COLOR_WORDS, STYLE_WORDS

MAX_STYLES = 8
MAX_COLORS = 6
MIN_WEIGHT = 0.02
# How much of the old taste survives one update: real history is trusted more than a default.
RETAIN_HISTORY = 0.5
RETAIN_COLD_START = 0.2
IMAGE_TAG_WEIGHT = 1.0
TEXT_KEYWORD_WEIGHT = 1.5  # what people say they like counts more than what they happen to wear
GARMENT_COLOR_WEIGHT = 0.5
CATEGORY_DECAY = 0.8  # garments seen long ago count less than garments seen lately


def canonical_style(word: str) -> str:
    lowered = re.sub(r"\s+", " ", word.strip().lower())
    return STYLE_WORDS.get(lowered) or lowered.replace(" ", "-")


def canonical_color(word: str) -> str:
    lowered = word.strip().lower()
    return COLOR_WORDS.get(lowered, lowered)


def normalise(weights: Mapping[str, float], keep: int) -> dict[str, float]:
    """Top `keep` weights above MIN_WEIGHT, scaled to sum 1 (ties broken by name)."""
    total = sum(weights.values())
    if total <= 0:
        return {}
    ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [(name, weight) for name, weight in ranked if weight / total >= MIN_WEIGHT][:keep]
    kept_total = sum(weight for _, weight in kept)
    return {name: weight / kept_total for name, weight in kept}


def blend(
    old: Mapping[str, float], new: Mapping[str, float], retain: float, keep: int
) -> dict[str, float]:
    if not new:
        return dict(old)
    names = set(old) | set(new)
    mixed = {
        name: retain * old.get(name, 0.0) + (1 - retain) * new.get(name, 0.0) for name in names
    }
    return normalise(mixed, keep)


@dataclass
class UserTaste:
    """A user's taste. Styles and colours are normalised weights; categories are decayed counts."""

    styles: dict[str, float]
    colors: dict[str, float]
    categories: dict[Category, float]
    occasion: OccasionKind = fp.OCCASION_UNSPECIFIED
    version: int = 0
    history: list[fp.StyleProfile] = field(default_factory=list)

    @property
    def cold_start(self) -> bool:
        return self.version == 0

    @classmethod
    def cold_start_for(cls, user_id: str) -> UserTaste:
        """A default taste derived from the user id alone, the same every time."""
        rng = random.Random(hashlib.sha256(user_id.encode()).digest())
        styles = rng.sample(list(load_catalogue().styles), 3)
        colors = rng.sample(sorted(NEUTRAL_COLORS), 3)
        categories = rng.sample(
            [
                fp.GARMENT_CATEGORY_TOP,
                fp.GARMENT_CATEGORY_BOTTOM,
                fp.GARMENT_CATEGORY_DRESS,
                fp.GARMENT_CATEGORY_SHOES,
            ],
            3,
        )
        shares = (0.5, 0.3, 0.2)
        return cls(
            styles=dict(zip(styles, shares, strict=True)),
            colors=dict(zip(colors, shares, strict=True)),
            categories=dict(zip(categories, (3.0, 2.0, 1.0), strict=True)),
        )

    def updated(self, evidence: style_pb2.BuildStyleProfileRequest) -> UserTaste:
        """The taste after one piece of evidence; self is left unchanged."""
        retain = RETAIN_COLD_START if self.cold_start else RETAIN_HISTORY
        style_votes: dict[str, float] = {}
        for tag in evidence.image_style_tags:
            name = canonical_style(tag)
            style_votes[name] = style_votes.get(name, 0.0) + IMAGE_TAG_WEIGHT
        for keyword in evidence.text_style_keywords:
            name = canonical_style(keyword)
            style_votes[name] = style_votes.get(name, 0.0) + TEXT_KEYWORD_WEIGHT

        color_votes: dict[str, float] = {}
        observed = list(evidence.observed_colors)
        for color in observed:
            share = color.share or 1.0 / len(observed)
            name = canonical_color(color.name)
            color_votes[name] = color_votes.get(name, 0.0) + share
        category_votes: dict[Category, float] = {}
        for garment in evidence.observed_garments:
            weight = garment.confidence or 1.0
            category_votes[garment.category] = category_votes.get(garment.category, 0.0) + weight
            if garment.color:
                name = canonical_color(garment.color)
                color_votes[name] = color_votes.get(name, 0.0) + GARMENT_COLOR_WEIGHT * weight

        decay = RETAIN_COLD_START if self.cold_start else CATEGORY_DECAY
        categories = {category: weight * decay for category, weight in self.categories.items()}
        for category, weight in category_votes.items():
            categories[category] = categories.get(category, 0.0) + weight
        return UserTaste(
            styles=blend(self.styles, normalise(style_votes, MAX_STYLES * 2), retain, MAX_STYLES),
            colors=blend(self.colors, normalise(color_votes, MAX_COLORS * 2), retain, MAX_COLORS),
            categories=categories,
            occasion=evidence.occasion or self.occasion,
            version=self.version + 1,
            history=self.history,
        )

    def profile(self, user_id: str, update_time_ns: int | None = None) -> fp.StyleProfile:
        catalogue = load_catalogue()
        ranked_styles = sorted(self.styles.items(), key=lambda kv: (-kv[1], kv[0]))
        ranked_colors = sorted(self.colors.items(), key=lambda kv: (-kv[1], kv[0]))
        ranked_categories = sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))
        profile = fp.StyleProfile(
            user_id=user_id,
            styles=[fp.StyleScore(style=name, score=score) for name, score in ranked_styles],
            palette=[catalogue.color(name, share) for name, share in ranked_colors],
            preferred_categories=[category for category, weight in ranked_categories if weight > 0],
            occasion=self.occasion,
            version=self.version,
            cold_start=self.cold_start,
        )
        if update_time_ns is not None:
            profile.update_time.FromNanoseconds(update_time_ns)
        return profile
