"""Typed AURA_* settings: bad values named with what they expect, misspelt names reported,
and one list behind the parser, `aura config` and the README table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from orchestrator.config import (
    VARIABLES,
    Settings,
    SettingsError,
    settings_table,
    unknown_variables,
)
from tests.helpers import REPO_ROOT


def test_a_value_that_is_not_a_port_names_the_variable_and_what_it_expects() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"AURA_PORT": "eighty"})
    assert caught.value.problems == ["AURA_PORT='eighty': expected a port number 0-65535"]


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "AURA_PORT": "70000",
                "AURA_SHUTDOWN_GRACE_S": "soon",
                "AURA_LOG_FORMAT": "xml",
                "AURA_BREAKER_FAILURE_RATE": "1.5",
                "AURA_SERVICE_NLU_ADDRESSES": "nlu-without-port",
            }
        )
    named = [problem.split("=")[0] for problem in caught.value.problems]
    assert sorted(named) == [
        "AURA_BREAKER_FAILURE_RATE",
        "AURA_LOG_FORMAT",
        "AURA_PORT",
        "AURA_SERVICE_NLU_ADDRESSES",
        "AURA_SHUTDOWN_GRACE_S",
    ]
    assert "expected 'text' or 'json'" in str(caught.value)


def test_a_check_across_two_settings_names_the_variables_involved() -> None:
    with pytest.raises(SettingsError, match=r"AURA_BREAKER_BASE_OPEN_S.*max_open_s"):
        Settings.from_env({"AURA_BREAKER_BASE_OPEN_S": "60", "AURA_BREAKER_MAX_OPEN_S": "30"})


def test_values_reach_the_settings_the_rest_of_the_code_reads() -> None:
    settings = Settings.from_env(
        {
            "AURA_PORT": "9701",
            "AURA_DATA_DIR": "/tmp/aura-test",
            "AURA_SERVICE_NLU_ADDRESSES": "10.0.0.1:8002, 10.0.0.2:8002",
            "AURA_METRICS_PORT": "off",
            "AURA_LOG_LEVEL": "debug",
            "AURA_TRACING": "yes",
            "AURA_BREAKER_CONSECUTIVE_FAILURES": "3",
            "AURA_MAX_IN_FLIGHT_PER_SERVICE": "8",
        }
    )
    assert settings.address == "127.0.0.1:9701"
    assert settings.database_path == Path("/tmp/aura-test/aura.db")
    assert settings.service_addresses["aura.nlu.v1.NluService"] == [
        "10.0.0.1:8002",
        "10.0.0.2:8002",
    ]
    assert settings.service_addresses["aura.style.v1.StyleProfileService"] == ["127.0.0.1:8003"]
    assert settings.telemetry.metrics_port is None
    assert settings.telemetry.log_level == "DEBUG"
    assert settings.telemetry.tracing_enabled
    policy = settings.policy_for("aura.nlu.v1.NluService")
    assert policy.breaker.consecutive_failures == 3
    assert policy.max_in_flight == 8


def test_an_empty_environment_serves_metrics_on_9464_and_bare_settings_do_not() -> None:
    assert Settings.from_env({}).telemetry.metrics_port == 9464
    assert Settings().telemetry.metrics_port is None
    assert Settings(port=0, shutdown_grace_s=1.0).port == 0


def test_a_misspelt_name_is_reported_with_the_nearest_setting() -> None:
    warnings = unknown_variables({"AURA_PROT": "9000", "AURA_SHUTDOWN_GRACE": "3", "HOME": "/"})
    assert warnings == [
        "AURA_PROT is not a setting and is ignored; did you mean AURA_PORT?",
        "AURA_SHUTDOWN_GRACE is not a setting and is ignored; did you mean AURA_SHUTDOWN_GRACE_S?",
    ]


def test_names_read_by_the_client_and_the_mock_services_are_not_reported() -> None:
    env = {"AURA_ADDRESS": "127.0.0.1:8006", "AURA_MOCK_LATENCY_MS": "5", "AURA_PORT": "8006"}
    assert unknown_variables(env) == []


def test_the_variables_ci_exports_are_not_reported() -> None:
    names = set(re.findall(r"\bexport (AURA_[A-Z0-9_]+)=", (REPO_ROOT / ".ci/run").read_text()))
    assert "AURA_REQUIRE_SERVICES" in names
    assert unknown_variables(dict.fromkeys(names, "1")) == []


def test_the_shipped_dockerfile_and_manifests_use_only_known_names() -> None:
    names = set(re.findall(r"\b(AURA_[A-Z0-9_]+)=", (REPO_ROOT / "Dockerfile").read_text()))
    for path in (REPO_ROOT / "deploy/kubernetes").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ConfigMap":
                names |= set(doc.get("data", {}))
    assert len(names) > 5
    assert unknown_variables(dict.fromkeys(names, "x")) == []


def test_the_effective_settings_are_plain_json_keyed_by_variable() -> None:
    described = Settings.from_env({"AURA_DATA_DIR": "/var/lib/aura"}).describe()
    text = json.dumps(described)  # no default=str: every value is JSON already
    assert "frozenset" not in text and "<" not in text
    assert described["AURA_DATA_DIR"] == "/var/lib/aura"
    assert described["AURA_METRICS_PORT"] == 9464
    assert described["AURA_SERVICE_IMAGE_ADDRESSES"] == ["127.0.0.1:8001"]
    assert list(described) == [var.name for var in VARIABLES]


def test_every_default_read_back_from_its_text_gives_the_same_settings() -> None:
    defaults = Settings.from_env({})
    table_rows = [line for line in settings_table().splitlines() if line.startswith("| `")]
    env = {}
    for row in table_rows:
        name, default = (cell.strip().strip("`") for cell in row.strip("|").split("|")[:2])
        env[name] = "" if default == "(empty)" else default
    assert Settings.from_env(env) == defaults


def test_the_readme_settings_table_is_the_one_generated_from_the_list() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", readme, re.DOTALL
    )
    assert match, "README.md has the settings-table markers"
    assert match.group(1) == settings_table(), (
        "README.md's settings table is stale: replace it with `.venv/bin/aura config --markdown`"
    )


def test_a_tls_certificate_needs_its_key_and_a_client_ca_needs_both() -> None:
    with pytest.raises(SettingsError, match="AURA_TLS_CERT and AURA_TLS_KEY"):
        Settings.from_env({"AURA_TLS_CERT": "server.crt"})
    with pytest.raises(SettingsError, match="AURA_TLS_CERT and AURA_TLS_KEY"):
        Settings.from_env({"AURA_TLS_KEY": "server.key"})
    with pytest.raises(SettingsError, match="AURA_TLS_CLIENT_CA"):
        Settings.from_env({"AURA_TLS_CLIENT_CA": "ca.crt"})
    both = Settings.from_env({"AURA_TLS_CERT": "server.crt", "AURA_TLS_KEY": "server.key"})
    assert (both.tls_cert, both.tls_key, both.tls_client_ca) == ("server.crt", "server.key", "")


def test_a_mesh_client_certificate_needs_its_key_and_the_services_ca() -> None:
    with pytest.raises(SettingsError, match="AURA_MESH_TLS_CERT and AURA_MESH_TLS_KEY"):
        Settings.from_env({"AURA_MESH_TLS_CA": "ca.crt", "AURA_MESH_TLS_CERT": "client.crt"})
    with pytest.raises(SettingsError, match="AURA_MESH_TLS_CERT and AURA_MESH_TLS_KEY"):
        Settings.from_env({"AURA_MESH_TLS_CA": "ca.crt", "AURA_MESH_TLS_KEY": "client.key"})
    with pytest.raises(SettingsError, match="AURA_MESH_TLS_CERT: needs AURA_MESH_TLS_CA"):
        Settings.from_env({"AURA_MESH_TLS_CERT": "client.crt", "AURA_MESH_TLS_KEY": "client.key"})


def test_mesh_tls_is_off_by_default_and_a_ca_alone_turns_it_on_without_a_client_certificate() -> (
    None
):
    assert Settings.from_env({}).mesh_tls_ca == ""
    ca_only = Settings.from_env({"AURA_MESH_TLS_CA": "ca.crt"})
    assert (ca_only.mesh_tls_ca, ca_only.mesh_tls_cert, ca_only.mesh_tls_key) == ("ca.crt", "", "")
    full = Settings.from_env(
        {
            "AURA_MESH_TLS_CA": "ca.crt",
            "AURA_MESH_TLS_CERT": "client.crt",
            "AURA_MESH_TLS_KEY": "client.key",
        }
    )
    assert (full.mesh_tls_ca, full.mesh_tls_cert, full.mesh_tls_key) == (
        "ca.crt",
        "client.crt",
        "client.key",
    )
