"""What `aura up` and `aura demo` hand the mock services about TLS."""

from __future__ import annotations

from orchestrator.cli.processes import mesh_tls_env
from orchestrator.config import Settings


def test_with_mesh_tls_the_mocks_get_the_ca_directory_unless_a_tls_directory_is_given() -> None:
    settings = Settings(mesh_tls_ca="/certs/ca.crt")
    assert mesh_tls_env(settings, {"PATH": "/bin"})["AURA_MOCK_TLS_DIR"] == "/certs"
    given = mesh_tls_env(settings, {"AURA_MOCK_TLS_DIR": "/mocks"})
    assert given["AURA_MOCK_TLS_DIR"] == "/mocks"


def test_without_mesh_tls_the_mocks_serve_plaintext_even_with_a_tls_directory_set() -> None:
    env = mesh_tls_env(Settings(), {"AURA_MOCK_TLS_DIR": "/certs", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}
