"""AURA_CONSOLE_ADDRESS: host:port of the web console, or off."""

from __future__ import annotations

import pytest

from orchestrator.config import Settings, SettingsError
from orchestrator.gateway import parse_console_address


def test_the_console_listens_on_loopback_8080_by_default() -> None:
    assert Settings.from_env({}).console_address == "127.0.0.1:8080"
    assert parse_console_address(Settings().console_address) == ("127.0.0.1", 8080)


@pytest.mark.parametrize("text", ["", "off", "OFF", " none "])
def test_off_or_empty_means_no_console(text: str) -> None:
    settings = Settings.from_env({"AURA_CONSOLE_ADDRESS": text})
    assert settings.console_address == ""
    assert parse_console_address(settings.console_address) is None


def test_a_chosen_address_is_kept() -> None:
    settings = Settings.from_env({"AURA_CONSOLE_ADDRESS": "0.0.0.0:30380"})
    assert parse_console_address(settings.console_address) == ("0.0.0.0", 30380)


@pytest.mark.parametrize("text", ["8080", "localhost", "host:http", "host:70000"])
def test_an_address_without_a_port_is_refused_with_what_is_expected(text: str) -> None:
    with pytest.raises(SettingsError, match=r"AURA_CONSOLE_ADDRESS.*host:port, or off"):
        Settings.from_env({"AURA_CONSOLE_ADDRESS": text})
