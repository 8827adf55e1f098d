"""AnalyzeText's answer, computed from the words of the request."""

from __future__ import annotations

from aura.common.v1 import fashion_pb2
from aura.nlu.v1 import nlu_pb2
from mock_services.catalogue import TermKind, find_terms
from mock_services.catalogue.enums import OccasionKind
from mock_services.nlu.budget import budget_from, find_money
from mock_services.nlu.intents import classify_intent

_ENTITY_TYPES = {
    TermKind.COLOR: nlu_pb2.ENTITY_TYPE_COLOR,
    TermKind.GARMENT: nlu_pb2.ENTITY_TYPE_GARMENT,
    TermKind.OCCASION: nlu_pb2.ENTITY_TYPE_OCCASION,
    TermKind.STYLE: nlu_pb2.ENTITY_TYPE_STYLE,
}


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def analyze_text(request: nlu_pb2.AnalyzeTextRequest) -> nlu_pb2.AnalyzeTextResponse:
    text = request.text
    money = find_money(text)
    terms = [
        term
        for term in find_terms(text)
        if term.kind in _ENTITY_TYPES
        and not any(m.start < term.end and term.start < m.end for m in money)
    ]
    entities = [
        nlu_pb2.Entity(text=t.text, type=_ENTITY_TYPES[t.kind], start=t.start, end=t.end)
        for t in terms
    ] + [
        nlu_pb2.Entity(text=m.text, type=nlu_pb2.ENTITY_TYPE_MONEY, start=m.start, end=m.end)
        for m in money
    ]
    entities.sort(key=lambda entity: (entity.start, entity.end))

    occasions = [OccasionKind(int(t.canonical)) for t in terms if t.kind is TermKind.OCCASION]
    guess = classify_intent(text, has_budget=bool(money), has_fashion_terms=bool(terms))
    response = nlu_pb2.AnalyzeTextResponse(
        intent=guess.intent,
        occasion=occasions[0] if occasions else fashion_pb2.OCCASION_UNSPECIFIED,
        style_keywords=_unique([str(t.canonical) for t in terms if t.kind is TermKind.STYLE]),
        colors=_unique([str(t.canonical) for t in terms if t.kind is TermKind.COLOR]),
        entities=entities,
        confidence=guess.confidence,
    )
    budget = budget_from(money)
    if budget is not None:
        response.budget.max_price.CopyFrom(budget)
    return response
