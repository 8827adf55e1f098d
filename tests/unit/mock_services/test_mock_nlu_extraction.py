"""What the mock NLU understands in free text, computed without a server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.nlu.v1 import nlu_pb2
from mock_services.common.money import to_decimal
from mock_services.nlu import analyze_text, validate_analyze_text


def analyze(text: str) -> nlu_pb2.AnalyzeTextResponse:
    return analyze_text(nlu_pb2.AnalyzeTextRequest(text=text))


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("a blazer under 200 euros", "200", "EUR"),
        ("nothing above €150 please", "150", "EUR"),
        ("sneakers for $80", "80", "USD"),
        ("a scarf, £49.99 tops", "49.99", "GBP"),
        ("my budget of 90 is firm", "90", "EUR"),
        ("a coat at most 1,200 EUR", "1200", "EUR"),
        ("between 300 euros and €120", "120", "EUR"),
    ],
)
def test_a_stated_budget_becomes_the_max_price(text: str, amount: str, currency: str) -> None:
    response = analyze(text)
    assert response.HasField("budget")
    assert to_decimal(response.budget.max_price) == Decimal(amount)
    assert response.budget.max_price.currency_code == currency


@pytest.mark.parametrize("text", ["I am 30 years old", "under 5 percent polyester", "size 38"])
def test_numbers_that_are_not_money_set_no_budget(text: str) -> None:
    assert not analyze(text).HasField("budget")


@pytest.mark.parametrize(
    ("text", "occasion"),
    [
        ("something for the office", fp.OCCASION_OFFICE),
        ("a big meeting on Monday", fp.OCCASION_OFFICE),
        ("clothes for work", fp.OCCASION_OFFICE),
        ("my sister's wedding", fp.OCCASION_FORMAL),
        ("a charity gala", fp.OCCASION_FORMAL),
        ("a black-tie dinner", fp.OCCASION_FORMAL),
        ("date night with Sam", fp.OCCASION_DATE),
        ("a birthday party", fp.OCCASION_PARTY),
        ("the gym after work", fp.OCCASION_SPORT),
        ("a weekend trip to Rome", fp.OCCASION_CASUAL),
        ("a long flight", fp.OCCASION_TRAVEL),
        ("a navy sweater", fp.OCCASION_UNSPECIFIED),
    ],
)
def test_the_first_occasion_named_wins(text: str, occasion: int) -> None:
    assert analyze(text).occasion == occasion


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("what's trending this season?", nlu_pb2.INTENT_EXPLORE_TRENDS),
        ("can you analyze my style", nlu_pb2.INTENT_ANALYZE_STYLE),
        ("what should I wear to the wedding", nlu_pb2.INTENT_BUILD_OUTFIT),
        ("where can I buy white sneakers", nlu_pb2.INTENT_SHOP),
        ("recommend a warm jacket", nlu_pb2.INTENT_GET_RECOMMENDATIONS),
        ("navy blazer", nlu_pb2.INTENT_GET_RECOMMENDATIONS),
        ("hello there", nlu_pb2.INTENT_UNSPECIFIED),
    ],
)
def test_the_intent_follows_the_cue_phrases(text: str, intent: int) -> None:
    assert analyze(text).intent == intent


def test_clear_cues_are_more_confident_than_none() -> None:
    clear = analyze("what outfit should I wear? what to wear tonight")
    vague = analyze("navy blazer")
    nothing = analyze("hello there")
    assert 0 <= nothing.confidence < vague.confidence < clear.confidence <= 1


def test_entities_carry_exact_offsets_and_types() -> None:
    text = "Ich möchte einen minimalist navy Blazer für €120 und quiet luxury T-Shirts"
    response = analyze(text)
    spans = [(text[e.start : e.end], e.type) for e in response.entities]
    assert spans == [
        ("minimalist", nlu_pb2.ENTITY_TYPE_STYLE),
        ("navy", nlu_pb2.ENTITY_TYPE_COLOR),
        ("Blazer", nlu_pb2.ENTITY_TYPE_GARMENT),
        ("€120", nlu_pb2.ENTITY_TYPE_MONEY),
        ("quiet luxury", nlu_pb2.ENTITY_TYPE_STYLE),
        ("T-Shirts", nlu_pb2.ENTITY_TYPE_GARMENT),
    ]
    assert all(e.text == text[e.start : e.end] for e in response.entities)


def test_styles_and_colours_are_canonical_unique_and_in_order_of_appearance() -> None:
    response = analyze("boho or minimal? charcoal, gray and cream, maybe bohemian again")
    assert list(response.style_keywords) == ["bohemian", "minimalist"]
    assert list(response.colors) == ["grey", "beige"]


def test_analysis_is_deterministic() -> None:
    text = "a floral dress for a garden wedding under 150 euros"
    assert analyze(text) == analyze(text)


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 4097}, "text"),
        ({"text": "ok", "locale": "english please"}, "locale"),
        ({"text": "ok", "user_id": "has spaces"}, "user_id"),
    ],
)
def test_bad_requests_name_the_bad_field(request_fields: dict[str, str], field: str) -> None:
    violations = validate_analyze_text(nlu_pb2.AnalyzeTextRequest(**request_fields))
    assert violations.fields() == [field]


def test_the_longest_allowed_text_is_accepted() -> None:
    assert not validate_analyze_text(nlu_pb2.AnalyzeTextRequest(text="x" * 4096, locale="en-GB"))
