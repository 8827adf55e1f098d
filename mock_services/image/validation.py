"""What makes an AnalyzeImageRequest acceptable."""

from __future__ import annotations

import re

from aura.image.v1 import image_pb2
from mock_services.common.validation import Violations

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_URI_CHARS = 2048
MAX_GARMENTS = 20
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


def validate_analyze_image(request: image_pb2.AnalyzeImageRequest) -> Violations:
    violations = Violations()
    if not request.image_uri and not request.image_data:
        violations.add("image_uri", "one of image_uri and image_data is required")
    if request.image_uri:
        if len(request.image_uri) > MAX_URI_CHARS:
            violations.add("image_uri", f"must be at most {MAX_URI_CHARS} characters")
        elif not _URI.match(request.image_uri):
            violations.add("image_uri", "must be an absolute URI such as https://host/photo.jpg")
    if len(request.image_data) > MAX_IMAGE_BYTES:
        violations.add("image_data", f"must be at most {MAX_IMAGE_BYTES} bytes (8 MiB)")
    violations.user_id(request.user_id, required=False)
    violations.int_range(request.max_garments, "max_garments", 0, MAX_GARMENTS)
    return violations
