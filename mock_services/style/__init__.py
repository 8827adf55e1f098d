"""Mock StyleProfileService: in-memory profiles that evidence moves, with history."""

from mock_services.style.profiles import ProfileStore, StyleHistory
from mock_services.style.servicer import StyleServicer
from mock_services.style.user_taste import UserTaste

__all__ = ["ProfileStore", "StyleHistory", "StyleServicer", "UserTaste"]
