"""Mock NluService: keyword and pattern extraction of intent, occasion, styles, colours, budget."""

from mock_services.nlu.extraction import analyze_text
from mock_services.nlu.servicer import NluServicer
from mock_services.nlu.validation import validate_analyze_text

__all__ = ["NluServicer", "analyze_text", "validate_analyze_text"]
