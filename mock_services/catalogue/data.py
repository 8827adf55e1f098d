"""The shipped catalogue: palette, style vocabulary and ~60 items, loaded once from items.json."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aura.common.v1 import fashion_pb2
from mock_services.common.money import from_decimal

NEUTRAL_COLORS = frozenset({"black", "white", "grey", "navy", "beige", "camel", "brown"})


@dataclass(frozen=True)
class Catalogue:
    currency_code: str
    palette: dict[str, str]
    """Colour name -> hex, in the palette's order."""
    styles: tuple[str, ...]
    items: tuple[fashion_pb2.Item, ...]
    _by_sku: dict[str, fashion_pb2.Item] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_sku", {item.sku: item for item in self.items})

    def color(self, name: str, share: float = 0.0) -> fashion_pb2.Color:
        """A palette colour message; unknown names get a neutral grey hex."""
        return fashion_pb2.Color(name=name, hex=self.palette.get(name, "#808080"), share=share)

    def by_sku(self, sku: str) -> fashion_pb2.Item | None:
        return self._by_sku.get(sku)

    def of_category(
        self, category: fashion_pb2.GarmentCategory.ValueType
    ) -> list[fashion_pb2.Item]:
        return [item for item in self.items if item.category == category]


def item_key(item: fashion_pb2.Item) -> str:
    """An item's identity: its sku, or a digest of its content when a wardrobe item has none."""
    if item.sku:
        return item.sku
    return "item-" + hashlib.sha256(item.SerializeToString(deterministic=True)).hexdigest()[:12]


def _item(raw: dict[str, Any], currency_code: str) -> fashion_pb2.Item:
    return fashion_pb2.Item(
        sku=raw["sku"],
        name=raw["name"],
        category=fashion_pb2.GarmentCategory.Value(f"GARMENT_CATEGORY_{raw['category']}"),
        color=raw["color"],
        pattern=fashion_pb2.Pattern.Value(f"PATTERN_{raw['pattern']}"),
        price=from_decimal(raw["price"], currency_code),
        style_tags=raw["style_tags"],
        occasions=[fashion_pb2.Occasion.Value(f"OCCASION_{name}") for name in raw["occasions"]],
        brand=raw["brand"],
    )


def parse_catalogue(document: dict[str, Any]) -> Catalogue:
    """Builds and cross-checks a catalogue: every item's colour and styles must be known."""
    currency_code = document["currency_code"]
    palette = {entry["name"]: entry["hex"] for entry in document["palette"]}
    styles = tuple(document["styles"])
    items = tuple(_item(raw, currency_code) for raw in document["items"])
    skus = [item.sku for item in items]
    if len(set(skus)) != len(skus):
        raise ValueError("catalogue: duplicate sku")
    for item in items:
        if item.color not in palette:
            raise ValueError(f"catalogue: {item.sku} has colour {item.color!r} outside the palette")
        unknown = set(item.style_tags) - set(styles)
        if unknown:
            raise ValueError(f"catalogue: {item.sku} has unknown styles {sorted(unknown)}")
    return Catalogue(currency_code=currency_code, palette=palette, styles=styles, items=items)


@functools.cache
def load_catalogue() -> Catalogue:
    """The catalogue shipped as package data (parsed once per process)."""
    text = resources.files("mock_services.catalogue").joinpath("items.json").read_text("utf-8")
    return parse_catalogue(json.loads(text))
