"""The shipped catalogue, money arithmetic and the fashion vocabulary the mocks share."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import pytest

from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue import TermKind, find_terms, load_catalogue, parse_catalogue
from mock_services.common.money import (
    format_money,
    from_decimal,
    from_nanos,
    money_problems,
    to_catalogue_nanos,
    to_nanos,
)


def test_the_catalogue_covers_every_category_in_a_shared_palette() -> None:
    catalogue = load_catalogue()
    per_category = Counter(item.category for item in catalogue.items)
    categories = [c for c in fp.GarmentCategory.values() if c != fp.GARMENT_CATEGORY_UNSPECIFIED]
    assert 55 <= len(catalogue.items) <= 70
    assert all(per_category[category] >= 5 for category in categories)
    assert len(catalogue.palette) == 15
    assert all(re.fullmatch(r"#[0-9a-f]{6}", hex_code) for hex_code in catalogue.palette.values())
    assert {item.color for item in catalogue.items} == set(catalogue.palette)


def test_every_item_is_complete_and_priced_in_euros() -> None:
    catalogue = load_catalogue()
    assert len({item.sku for item in catalogue.items}) == len(catalogue.items)
    for item in catalogue.items:
        assert item.name and item.brand and item.style_tags and item.occasions
        assert item.pattern != fp.PATTERN_UNSPECIFIED
        assert item.price.currency_code == "EUR"
        assert to_nanos(item.price) > 0
        assert set(item.style_tags) <= set(catalogue.styles)


def test_every_occasion_has_items() -> None:
    occasions = {o for item in load_catalogue().items for o in item.occasions}
    assert occasions == set(fp.Occasion.values()) - {fp.OCCASION_UNSPECIFIED}


def test_a_catalogue_with_an_unknown_colour_is_refused() -> None:
    document = {
        "currency_code": "EUR",
        "palette": [{"name": "black", "hex": "#000000"}],
        "styles": ["classic"],
        "items": [
            {
                "sku": "X-1",
                "name": "Teal Top",
                "category": "TOP",
                "color": "teal",
                "pattern": "SOLID",
                "price": "10.00",
                "style_tags": ["classic"],
                "occasions": ["CASUAL"],
                "brand": "B",
            }
        ],
    }
    with pytest.raises(ValueError, match="teal"):
        parse_catalogue(document)


def test_money_round_trips_through_nanos_with_consistent_signs() -> None:
    price = from_decimal("89.90")
    assert (price.units, price.nanos) == (89, 900_000_000)
    assert to_nanos(price) == 89_900_000_000
    refund = from_nanos(-1_500_000_000)
    assert (refund.units, refund.nanos) == (-1, -500_000_000)
    assert format_money(price) == "€89.90"


def test_budgets_in_other_currencies_convert_at_fixed_rates() -> None:
    dollars = fp.Money(currency_code="USD", units=100)
    assert Decimal(to_catalogue_nanos(dollars)) / 10**9 == Decimal("92")


@pytest.mark.parametrize(
    ("money", "subfield"),
    [
        (fp.Money(currency_code="eur", units=1), "currency_code"),
        (fp.Money(currency_code="XYZ", units=1), "currency_code"),
        (fp.Money(currency_code="EUR", units=1, nanos=1_000_000_000), "nanos"),
        (fp.Money(currency_code="EUR", units=1, nanos=-5), "nanos"),
        (fp.Money(currency_code="EUR", units=-3), "units"),
    ],
)
def test_malformed_money_is_explained(money: fp.Money, subfield: str) -> None:
    assert subfield in [field for field, _ in money_problems(money)]


def test_the_longest_phrase_wins_and_spans_are_exact() -> None:
    text = "Quiet luxury t-shirts, not luxury; a navy-blazer and two dresses"
    terms = [(t.text, t.kind, t.canonical) for t in find_terms(text)]
    assert terms == [
        ("Quiet luxury", TermKind.STYLE, "quiet-luxury"),
        ("t-shirts", TermKind.GARMENT, fp.GARMENT_CATEGORY_TOP),
        ("luxury", TermKind.STYLE, "quiet-luxury"),
        ("navy", TermKind.COLOR, "navy"),
        ("blazer", TermKind.GARMENT, fp.GARMENT_CATEGORY_OUTERWEAR),
        ("dresses", TermKind.GARMENT, fp.GARMENT_CATEGORY_DRESS),
    ]
    assert all(text[t.start : t.end] == t.text for t in find_terms(text))
