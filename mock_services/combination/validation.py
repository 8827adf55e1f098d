"""What makes a GenerateOutfitsRequest acceptable."""

from __future__ import annotations

from aura.combination.v1 import combination_pb2
from aura.common.v1 import fashion_pb2 as fp
from mock_services.common.validation import Violations

MAX_OUTFITS = 20
MAX_WARDROBE = 500
MAX_TRENDS = 50


def validate_generate_outfits(request: combination_pb2.GenerateOutfitsRequest) -> Violations:
    violations = Violations()
    if not request.HasField("profile"):
        violations.add("profile", "is required")
    else:
        violations.profile(request.profile, "profile")
    violations.enum(request.occasion, fp.Occasion, "occasion", allow_unspecified=True)
    if len(request.wardrobe) > MAX_WARDROBE:
        violations.add("wardrobe", f"must have at most {MAX_WARDROBE} items")
    for index, item in enumerate(request.wardrobe):
        violations.item(item, f"wardrobe[{index}]")
    violations.int_range(request.max_outfits, "max_outfits", 0, MAX_OUTFITS)
    if len(request.trends) > MAX_TRENDS:
        violations.add("trends", f"must have at most {MAX_TRENDS} entries")
    violations.trends(request.trends)
    return violations
