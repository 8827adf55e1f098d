"""What makes StyleProfileService requests acceptable."""

from __future__ import annotations

from aura.common.v1 import fashion_pb2 as fp
from aura.style.v1 import style_pb2
from mock_services.common.validation import Violations

MAX_EVIDENCE = 100
MAX_WORD_CHARS = 64
MAX_SNAPSHOTS = 100


def _words(violations: Violations, words: list[str], path: str) -> None:
    if len(words) > MAX_EVIDENCE:
        violations.add(path, f"must have at most {MAX_EVIDENCE} entries")
    for index, word in enumerate(words):
        if not word.strip():
            violations.add(f"{path}[{index}]", "must not be empty")
        elif len(word) > MAX_WORD_CHARS:
            violations.add(f"{path}[{index}]", f"must be at most {MAX_WORD_CHARS} characters")


def validate_build_style_profile(request: style_pb2.BuildStyleProfileRequest) -> Violations:
    violations = Violations()
    violations.user_id(request.user_id)
    if len(request.observed_garments) > MAX_EVIDENCE:
        violations.add("observed_garments", f"must have at most {MAX_EVIDENCE} entries")
    for index, garment in enumerate(request.observed_garments):
        path = f"observed_garments[{index}]"
        violations.enum(
            garment.category, fp.GarmentCategory, f"{path}.category", allow_unspecified=False
        )
        violations.enum(garment.pattern, fp.Pattern, f"{path}.pattern", allow_unspecified=True)
        violations.unit_interval(garment.confidence, f"{path}.confidence")
    if len(request.observed_colors) > MAX_EVIDENCE:
        violations.add("observed_colors", f"must have at most {MAX_EVIDENCE} entries")
    for index, color in enumerate(request.observed_colors):
        violations.color(color, f"observed_colors[{index}]")
    _words(violations, list(request.image_style_tags), "image_style_tags")
    _words(violations, list(request.text_style_keywords), "text_style_keywords")
    violations.enum(request.occasion, fp.Occasion, "occasion", allow_unspecified=True)
    return violations


def validate_get_style_profile(request: style_pb2.GetStyleProfileRequest) -> Violations:
    violations = Violations()
    violations.user_id(request.user_id)
    return violations


def validate_get_style_history(request: style_pb2.GetStyleHistoryRequest) -> Violations:
    violations = Violations()
    violations.user_id(request.user_id)
    violations.int_range(request.max_snapshots, "max_snapshots", 0, MAX_SNAPSHOTS)
    return violations
