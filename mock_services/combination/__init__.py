"""Mock CombinationEngineService: outfits from a wardrobe or the catalogue, scored by taste."""

from mock_services.combination.outfits import generate_outfits
from mock_services.combination.servicer import CombinationServicer
from mock_services.combination.validation import validate_generate_outfits

__all__ = ["CombinationServicer", "generate_outfits", "validate_generate_outfits"]
