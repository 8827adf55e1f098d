"""Mock ImageProcessingService: deterministic colours, garments and styles from bytes or URI."""

from mock_services.image.analysis import analyze_image
from mock_services.image.servicer import ImageServicer
from mock_services.image.validation import validate_analyze_image

__all__ = ["ImageServicer", "analyze_image", "validate_analyze_image"]
