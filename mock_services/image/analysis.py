"""AnalyzeImage's answer: a deterministic reading of the image bytes or URI.

A hash of the content (or of the URI when there are no bytes) seeds every choice, so the same image
always gets the same analysis. Words in the URI ("navy-blazer.jpg", "floral_dress.png") steer it
the way a real model would see them: named colours dominate, named garments are detected with high
confidence, named patterns and styles show up.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from typing import TypeVar

from aura.common.v1 import fashion_pb2 as fp
from aura.image.v1 import image_pb2
from mock_services.catalogue import (
    NEUTRAL_COLORS,
    Catalogue,
    TermKind,
    find_terms,
    load_catalogue,
)
from mock_services.catalogue.enums import Category, PatternKind

T = TypeVar("T")

DEFAULT_MAX_GARMENTS = 5
DOMINANT_COLORS = 3
STYLE_TAGS = 3

# Slots of an everyday outfit, in the order a detector would be most sure of them.
_SEPARATES = (
    fp.GARMENT_CATEGORY_TOP,
    fp.GARMENT_CATEGORY_BOTTOM,
    fp.GARMENT_CATEGORY_SHOES,
    fp.GARMENT_CATEGORY_OUTERWEAR,
    fp.GARMENT_CATEGORY_ACCESSORY,
)
_ONE_PIECE = (
    fp.GARMENT_CATEGORY_DRESS,
    fp.GARMENT_CATEGORY_SHOES,
    fp.GARMENT_CATEGORY_ACCESSORY,
    fp.GARMENT_CATEGORY_OUTERWEAR,
)


@dataclass
class UriHints:
    """What the words of an image URI say about the picture."""

    colors: list[str] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    patterns: list[PatternKind] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)


def uri_hints(uri: str) -> UriHints:
    # Only the path says anything about the picture; the host name ("red-cdn.com") does not.
    path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", uri, flags=re.IGNORECASE)
    words = re.sub(r"[^A-Za-z]+", " ", path)
    hints = UriHints()
    for term in find_terms(words):
        if term.kind is TermKind.COLOR:
            _add_new(hints.colors, str(term.canonical))
        elif term.kind is TermKind.STYLE:
            _add_new(hints.styles, str(term.canonical))
        elif term.kind is TermKind.GARMENT:
            _add_new(hints.categories, Category(int(term.canonical)))
        elif term.kind is TermKind.PATTERN:
            _add_new(hints.patterns, PatternKind(int(term.canonical)))
    return hints


def _add_new(values: list[T], value: T) -> None:
    if value not in values:
        values.append(value)


def image_digest(request: image_pb2.AnalyzeImageRequest) -> bytes:
    """Content wins over URI: the same bytes under two URIs are the same image."""
    if request.image_data:
        return hashlib.sha256(request.image_data).digest()
    return hashlib.sha256(request.image_uri.strip().encode()).digest()


def _dominant_colors(hints: UriHints, rng: random.Random, catalogue: Catalogue) -> list[fp.Color]:
    names = list(hints.colors[:DOMINANT_COLORS])
    # Unnamed colours lean neutral, as most outfits do: the first filler is always a neutral.
    neutrals = sorted(NEUTRAL_COLORS - set(names))
    if len(names) < DOMINANT_COLORS:
        names.append(rng.choice(neutrals))
    others = [name for name in catalogue.palette if name not in names]
    names += rng.sample(others, DOMINANT_COLORS - len(names))
    # Named colours are what the picture is mostly made of.
    weights = [3.0 if name in hints.colors else rng.uniform(0.5, 1.5) for name in names]
    total = sum(weights)
    colors = [
        catalogue.color(name, round(w / total, 3)) for name, w in zip(names, weights, strict=True)
    ]
    return sorted(colors, key=lambda color: -color.share)


def _garments(
    hints: UriHints, colors: list[fp.Color], rng: random.Random, limit: int
) -> list[fp.Garment]:
    categories = list(dict.fromkeys(hints.categories))
    one_piece = fp.GARMENT_CATEGORY_DRESS in categories or (not categories and rng.random() < 0.3)
    slots = _ONE_PIECE if one_piece else _SEPARATES
    wanted = rng.randint(2, len(slots))
    for slot in slots:
        if len(categories) >= max(wanted, len(hints.categories)):
            break
        if slot not in categories:
            categories.append(slot)
    garments = []
    for index, category in enumerate(categories[:limit]):
        hinted = category in hints.categories
        if index < len(hints.patterns):
            pattern = hints.patterns[index]
        else:
            pattern = (
                fp.PATTERN_SOLID
                if rng.random() < 0.7
                else rng.choice(
                    [fp.PATTERN_STRIPED, fp.PATTERN_CHECKED, fp.PATTERN_FLORAL, fp.PATTERN_PRINTED]
                )
            )
        garments.append(
            fp.Garment(
                category=category,
                color=colors[index % len(colors)].name,
                pattern=pattern,
                confidence=round(rng.uniform(0.9, 0.98) if hinted else rng.uniform(0.55, 0.85), 3),
            )
        )
    return sorted(garments, key=lambda garment: -garment.confidence)


def _style_tags(hints: UriHints, garments: list[fp.Garment], catalogue: Catalogue) -> list[str]:
    """Styles of the catalogue items that look like the garments seen, plus the styles named."""
    votes: dict[str, float] = dict.fromkeys(hints.styles, 10.0)
    for garment in garments:
        for item in catalogue.of_category(garment.category):
            weight = (1.0 if item.color == garment.color else 0.2) + (
                0.5
                if item.pattern == garment.pattern and garment.pattern != fp.PATTERN_SOLID
                else 0
            )
            for tag in item.style_tags:
                votes[tag] = votes.get(tag, 0.0) + weight * garment.confidence
    ranked = sorted(votes, key=lambda style: (-votes[style], style))
    return ranked[:STYLE_TAGS]


def analyze_image(request: image_pb2.AnalyzeImageRequest) -> image_pb2.AnalyzeImageResponse:
    catalogue = load_catalogue()
    digest = image_digest(request)
    rng = random.Random(digest)
    hints = uri_hints(request.image_uri)
    colors = _dominant_colors(hints, rng, catalogue)
    garments = _garments(hints, colors, rng, request.max_garments or DEFAULT_MAX_GARMENTS)
    return image_pb2.AnalyzeImageResponse(
        image_id=f"img-{digest.hex()[:16]}",
        dominant_colors=colors,
        garments=garments,
        style_tags=_style_tags(hints, garments, catalogue),
    )
