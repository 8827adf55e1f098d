"""Short names for the fashion enums' value types, and their human labels ("office", "shoes")."""

from __future__ import annotations

from typing import TypeAlias

from aura.common.v1 import fashion_pb2 as fp

Category: TypeAlias = fp.GarmentCategory.ValueType
PatternKind: TypeAlias = fp.Pattern.ValueType
OccasionKind: TypeAlias = fp.Occasion.ValueType


def category_label(category: Category) -> str:
    return fp.GarmentCategory.Name(category).removeprefix("GARMENT_CATEGORY_").lower()


def occasion_label(occasion: OccasionKind) -> str:
    return fp.Occasion.Name(occasion).removeprefix("OCCASION_").lower()
