"""Settings from the environment: what `aura serve` is configured with."""

from __future__ import annotations

import pytest

from orchestrator.config import Settings


def test_defaults_keep_durable_writes_with_a_5_ms_linger() -> None:
    settings = Settings.from_env({})
    assert settings.durability == "normal"
    assert settings.store_linger_ms == 5.0


def test_store_durability_and_linger_come_from_the_environment() -> None:
    settings = Settings.from_env({"AURA_DURABILITY": "fsync", "AURA_STORE_LINGER_MS": "0"})
    assert settings.durability == "fsync"
    assert settings.store_linger_ms == 0.0


def test_an_unknown_durability_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'normal' or 'fsync'"):
        Settings.from_env({"AURA_DURABILITY": "sometimes"})
