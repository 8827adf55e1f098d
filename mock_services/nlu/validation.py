"""What makes an AnalyzeTextRequest acceptable."""

from __future__ import annotations

import re

from aura.nlu.v1 import nlu_pb2
from mock_services.common.validation import Violations

MAX_TEXT_CHARS = 4096
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def validate_analyze_text(request: nlu_pb2.AnalyzeTextRequest) -> Violations:
    violations = Violations()
    if not request.text.strip():
        violations.add("text", "must not be empty")
    elif len(request.text) > MAX_TEXT_CHARS:
        violations.add(
            "text", f"must be at most {MAX_TEXT_CHARS} characters, got {len(request.text)}"
        )
    violations.user_id(request.user_id, required=False)
    if request.locale and not _LOCALE.match(request.locale):
        violations.add("locale", "must be a BCP-47 language tag such as en or en-GB")
    return violations
