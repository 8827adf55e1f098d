"""Fashion knowledge shared by the mock services: the catalogue, its vocabulary, taste scoring."""

from mock_services.catalogue.data import (
    NEUTRAL_COLORS,
    Catalogue,
    item_key,
    load_catalogue,
    parse_catalogue,
)
from mock_services.catalogue.taste import ItemFit, Taste
from mock_services.catalogue.vocabulary import Term, TermKind, find_terms

__all__ = [
    "NEUTRAL_COLORS",
    "Catalogue",
    "ItemFit",
    "Taste",
    "Term",
    "TermKind",
    "find_terms",
    "item_key",
    "load_catalogue",
    "parse_catalogue",
]
