"""Intent from cue phrases: each cue votes for an intent with a weight; the strongest wins."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aura.nlu.v1 import nlu_pb2

_CUES: dict[nlu_pb2.Intent.ValueType, tuple[tuple[str, float], ...]] = {
    nlu_pb2.INTENT_EXPLORE_TRENDS: (
        (r"trend(?:s|ing|y)?", 2.0),
        (r"in (?:style|fashion|season)", 1.5),
        (r"what'?s (?:hot|in)", 1.5),
        (r"popular", 1.0),
        (r"this season", 1.0),
    ),
    nlu_pb2.INTENT_ANALYZE_STYLE: (
        (r"my style", 2.0),
        (r"analy[sz]e", 2.0),
        (r"what (?:is|'s) my", 1.5),
        (r"style profile", 2.0),
        (r"describe my", 1.5),
        (r"what style", 1.0),
    ),
    nlu_pb2.INTENT_BUILD_OUTFIT: (
        (r"outfits?", 2.0),
        (r"what (?:should|can|do) i wear", 2.5),
        (r"what to wear", 2.5),
        (r"combine", 1.5),
        (r"pair(?:ed|ing)? with", 1.5),
        (r"go(?:es)? with", 1.5),
        (r"put together", 1.5),
        (r"\blook for\b", 1.0),
        (r"dress (?:up )?for", 1.5),
    ),
    nlu_pb2.INTENT_SHOP: (
        (r"buy", 2.0),
        (r"shop(?:ping)?", 2.0),
        (r"purchase", 2.0),
        (r"order", 1.0),
        (r"where (?:can|do) i (?:get|find)", 2.0),
        (r"how much", 1.5),
        (r"afford", 1.0),
    ),
    nlu_pb2.INTENT_GET_RECOMMENDATIONS: (
        (r"recommend\w*", 2.0),
        (r"suggest\w*", 2.0),
        (r"ideas?", 1.0),
        (r"need", 1.0),
        (r"looking for", 1.0),
        (r"want", 0.5),
        (r"show me", 1.0),
        (r"help me find", 1.5),
    ),
}
_COMPILED = {
    intent: tuple(
        (re.compile(rf"(?<!\w){cue}(?!\w)", re.IGNORECASE), weight) for cue, weight in cues
    )
    for intent, cues in _CUES.items()
}
# Ties go to the intent asked for most often in practice.
_TIE_ORDER = (
    nlu_pb2.INTENT_GET_RECOMMENDATIONS,
    nlu_pb2.INTENT_BUILD_OUTFIT,
    nlu_pb2.INTENT_SHOP,
    nlu_pb2.INTENT_EXPLORE_TRENDS,
    nlu_pb2.INTENT_ANALYZE_STYLE,
)
BUDGET_SHOP_WEIGHT = 0.5


@dataclass(frozen=True)
class IntentGuess:
    intent: nlu_pb2.Intent.ValueType
    confidence: float


def classify_intent(text: str, *, has_budget: bool, has_fashion_terms: bool) -> IntentGuess:
    votes: dict[nlu_pb2.Intent.ValueType, float] = dict.fromkeys(_TIE_ORDER, 0.0)
    for intent, cues in _COMPILED.items():
        for pattern, weight in cues:
            votes[intent] += weight * len(pattern.findall(text))
    if has_budget:
        votes[nlu_pb2.INTENT_SHOP] += BUDGET_SHOP_WEIGHT
    ranked = sorted(_TIE_ORDER, key=lambda intent: -votes[intent])
    best, runner_up = votes[ranked[0]], votes[ranked[1]]
    if best < 1.0:
        # No real cue: someone naming garments or colours most likely wants suggestions.
        if has_fashion_terms:
            return IntentGuess(nlu_pb2.INTENT_GET_RECOMMENDATIONS, 0.45)
        return IntentGuess(nlu_pb2.INTENT_UNSPECIFIED, 0.1)
    strength = min(1.0, best / 3.0)
    margin = (best - runner_up) / best
    confidence = 0.5 + 0.3 * strength + 0.18 * margin
    return IntentGuess(ranked[0], round(min(confidence, 0.98), 3))
