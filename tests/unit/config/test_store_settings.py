"""AURA_STORE_URL picks the store; its password never reaches `aura config` or logs."""

import pytest

from orchestrator.config import Settings, SettingsError
from orchestrator.envvars import redact_url


def test_sqlite_is_the_default_store() -> None:
    assert Settings.from_env({}).store_url == ""


def test_a_postgresql_url_is_taken_as_given() -> None:
    url = "postgresql://aura@127.0.0.1:5432/aura"
    assert Settings.from_env({"AURA_STORE_URL": url}).store_url == url


def test_a_url_of_another_database_is_refused_with_what_is_expected() -> None:
    with pytest.raises(SettingsError, match=r"AURA_STORE_URL.*postgresql://"):
        Settings.from_env({"AURA_STORE_URL": "mysql://root@localhost/aura"})


def test_the_password_is_redacted_in_the_described_settings() -> None:
    settings = Settings.from_env({"AURA_STORE_URL": "postgresql://bob:s3cr%40t@db:5432/aura"})
    shown = settings.describe()["AURA_STORE_URL"]
    assert shown == "postgresql://bob:***@db:5432/aura"
    assert "s3cr" not in str(settings.describe())


def test_a_url_without_password_is_shown_unchanged() -> None:
    assert redact_url("postgresql://bob@db/aura") == "postgresql://bob@db/aura"


def test_the_lease_must_be_at_least_a_second() -> None:
    with pytest.raises(SettingsError, match="AURA_REPLICA_LEASE_S"):
        Settings.from_env({"AURA_REPLICA_LEASE_S": "0.2"})
