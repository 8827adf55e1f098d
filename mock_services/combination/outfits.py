"""GenerateOutfits' answer: outfits assembled slot by slot and scored against the taste.

An outfit is a core (top + bottom, or a dress), shoes when there are any, and outerwear or an
accessory when they add to it. Items are scored by `Taste.fit`; an outfit scores the mean fit of
its items plus colour harmony, so a palette steers which combinations come first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from aura.combination.v1 import combination_pb2
from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue import NEUTRAL_COLORS, ItemFit, Taste, item_key, load_catalogue
from mock_services.combination.rationale import explain

DEFAULT_OUTFITS = 3
CANDIDATES_PER_SLOT = 4
SHOE_OPTIONS = 2
FIT_WEIGHT = 0.85
HARMONY_WEIGHT = 0.15
NO_SHOES_PENALTY = 0.1
# Layers the occasion calls for whether or not they raise the score.
_LAYERED_OCCASIONS = {fp.OCCASION_OFFICE, fp.OCCASION_FORMAL, fp.OCCASION_TRAVEL}

Ranked = list[tuple[fp.Item, ItemFit]]


@dataclass(frozen=True)
class Outfit:
    items: tuple[fp.Item, ...]
    fits: tuple[ItemFit, ...]
    harmony: float
    score: float
    outfit_id: str

    @property
    def core(self) -> frozenset[str]:
        return frozenset(
            item_key(item)
            for item in self.items
            if item.category
            in (fp.GARMENT_CATEGORY_TOP, fp.GARMENT_CATEGORY_BOTTOM, fp.GARMENT_CATEGORY_DRESS)
        )


def outfit_id(items: Sequence[fp.Item]) -> str:
    keys = "|".join(sorted(item_key(item) for item in items))
    return "outfit-" + hashlib.sha256(keys.encode()).hexdigest()[:12]


def harmony(items: Sequence[fp.Item]) -> float:
    """1 for one accent colour on neutrals, less for more accents and for clashing patterns."""
    accents = {item.color for item in items if item.color not in NEUTRAL_COLORS}
    plain = (fp.PATTERN_UNSPECIFIED, fp.PATTERN_SOLID)
    patterned = [item for item in items if item.pattern not in plain]
    score = {0: 1.0, 1: 1.0, 2: 0.6}.get(len(accents), 0.2)
    return max(0.0, score - (0.3 if len(patterned) > 1 else 0.0))


def _score(items: Sequence[fp.Item], fits: Sequence[ItemFit], taste: Taste) -> tuple[float, float]:
    mean_fit = sum(
        fit.score + taste.category_rank_bonus(item.category)
        for item, fit in zip(items, fits, strict=True)
    ) / len(items)
    outfit_harmony = harmony(items)
    has_shoes = any(item.category == fp.GARMENT_CATEGORY_SHOES for item in items)
    score = FIT_WEIGHT * mean_fit + HARMONY_WEIGHT * outfit_harmony
    score -= 0.0 if has_shoes else NO_SHOES_PENALTY
    return min(1.0, max(0.0, score)), outfit_harmony


def _rank(pool: Sequence[fp.Item], taste: Taste) -> dict[int, Ranked]:
    by_category: dict[int, Ranked] = {}
    for item in pool:
        by_category.setdefault(item.category, []).append((item, taste.fit(item)))
    for ranked in by_category.values():
        ranked.sort(key=lambda pair: (-pair[1].score, item_key(pair[0])))
        del ranked[CANDIDATES_PER_SLOT:]
    return by_category


def _build(pieces: Sequence[tuple[fp.Item, ItemFit]], taste: Taste) -> Outfit:
    items = tuple(item for item, _ in pieces)
    fits = tuple(fit for _, fit in pieces)
    score, outfit_harmony = _score(items, fits, taste)
    return Outfit(items, fits, outfit_harmony, score, outfit_id(items))


def _with_optional_layer(outfit: Outfit, layer: Ranked, taste: Taste, required: bool) -> Outfit:
    """Adds the best layer of a kind when the occasion needs one or when it raises the score."""
    best = outfit
    pieces = list(zip(outfit.items, outfit.fits, strict=True))
    for candidate in layer:
        extended = _build([*pieces, candidate], taste)
        if (required and best is outfit) or extended.score > best.score:
            best = extended
    return best


def candidate_outfits(pool: Sequence[fp.Item], taste: Taste) -> list[Outfit]:
    ranked = _rank(pool, taste)
    tops = ranked.get(fp.GARMENT_CATEGORY_TOP, [])
    bottoms = ranked.get(fp.GARMENT_CATEGORY_BOTTOM, [])
    cores = [[top, bottom] for top in tops for bottom in bottoms]
    cores += [[dress] for dress in ranked.get(fp.GARMENT_CATEGORY_DRESS, [])]
    shoes = ranked.get(fp.GARMENT_CATEGORY_SHOES, [])
    outerwear = ranked.get(fp.GARMENT_CATEGORY_OUTERWEAR, [])
    accessories = ranked.get(fp.GARMENT_CATEGORY_ACCESSORY, [])
    layered = taste.occasion in _LAYERED_OCCASIONS
    outfits: dict[str, Outfit] = {}
    for core in cores:
        shoe_options: list[list[tuple[fp.Item, ItemFit]]] = [[s] for s in shoes[:SHOE_OPTIONS]]
        for shoe in shoe_options or [[]]:
            outfit = _build(core + shoe, taste)
            outfit = _with_optional_layer(outfit, outerwear, taste, required=layered)
            outfit = _with_optional_layer(outfit, accessories, taste, required=False)
            outfits.setdefault(outfit.outfit_id, outfit)
    return sorted(outfits.values(), key=lambda outfit: (-outfit.score, outfit.outfit_id))


def pick_diverse(candidates: Sequence[Outfit], limit: int) -> list[Outfit]:
    """Best first, but an outfit repeating another's core waits until nothing else is left."""
    chosen: list[Outfit] = []
    cores: set[frozenset[str]] = set()
    for outfit in candidates:
        if len(chosen) < limit and outfit.core not in cores:
            chosen.append(outfit)
            cores.add(outfit.core)
    for outfit in candidates:
        if len(chosen) < limit and outfit not in chosen:
            chosen.append(outfit)
    return sorted(chosen, key=lambda outfit: (-outfit.score, outfit.outfit_id))


def generate_outfits(
    request: combination_pb2.GenerateOutfitsRequest,
) -> combination_pb2.GenerateOutfitsResponse:
    pool = list(request.wardrobe) or list(load_catalogue().items)
    # The contract: OCCASION_UNSPECIFIED means casual.
    occasion = request.occasion or fp.OCCASION_CASUAL
    taste = Taste.of(request.profile, occasion, request.trends)
    chosen = pick_diverse(candidate_outfits(pool, taste), request.max_outfits or DEFAULT_OUTFITS)
    return combination_pb2.GenerateOutfitsResponse(
        outfits=[
            fp.Outfit(
                outfit_id=outfit.outfit_id,
                items=outfit.items,
                score=round(outfit.score, 4),
                rationale=explain(outfit.items, outfit.fits, outfit.harmony, taste),
            )
            for outfit in chosen
        ]
    )
