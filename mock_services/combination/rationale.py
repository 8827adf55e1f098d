"""Plain-language reasons for an outfit's score."""

from __future__ import annotations

from collections.abc import Sequence

from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue import ItemFit, Taste
from mock_services.catalogue.enums import occasion_label
from mock_services.catalogue.taste import top_names


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def explain(items: Sequence[fp.Item], fits: Sequence[ItemFit], harmony: float, taste: Taste) -> str:
    reasons: list[str] = []
    matched = {style for fit in fits for style in fit.matched_styles}
    styles = top_names(taste.styles, sorted(matched))
    if styles:
        reasons.append(f"fits your {_join(styles)} style")
    in_palette = [item.color for item in items if item.color in taste.palette]
    palette_colors = list(dict.fromkeys(in_palette))
    if palette_colors:
        verb = "is" if len(palette_colors) == 1 else "are"
        reasons.append(f"{_join(palette_colors)} {verb} in your palette")
    suited = sum(1 for fit in fits if fit.occasion == 1.0)
    occasion = occasion_label(taste.occasion)
    if suited == len(items):
        reasons.append(f"every piece suits {occasion}")
    elif suited:
        reasons.append(f"{suited} of {len(items)} pieces suit {occasion}")
    else:
        reasons.append(f"not really made for {occasion}")
    trending = sorted({style for fit in fits for style in fit.trending_styles})
    if trending:
        reasons.append(f"on trend: {_join(trending)}")
    if harmony >= 1.0:
        reasons.append("calm colour balance")
    elif harmony < 0.5:
        reasons.append("bold colour mix")
    names = _join([item.name or fp.GarmentCategory.Name(item.category) for item in items])
    return f"{names}: " + "; ".join(reasons) + "."
