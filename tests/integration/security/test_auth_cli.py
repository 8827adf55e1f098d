"""`aura serve` with AURA_AUTH_KEY_FILE and the `aura` client commands with AURA_TOKEN, both
made by `aura token`: a run with live progress for a writer, a reader refused the run,
an anonymous caller refused everything but the health probe."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_services.mesh import MockMesh
from tests.integration.cli_process import OrchestratorProcess, aura, clean_env, free_port
from tests.integration.orchestrator_helpers import STYLE_INPUT

pytestmark = pytest.mark.integration


def _exports(stdout: str) -> dict[str, str]:
    return dict(
        line.removeprefix("export ").split("=", 1)
        for line in stdout.splitlines()
        if line.startswith("export ")
    )


async def _token(keys: Path, *permissions: str) -> dict[str, str]:
    flags = [arg for p in permissions for arg in ("--permission", p)]
    made = await aura("token", "--dir", str(keys), "--tenant", "acme", *flags)
    assert made.code == 0, made.stderr
    return _exports(made.stdout)


@pytest.fixture(name="secured")
async def secured_fixture(mesh: MockMesh, tmp_path: Path) -> AsyncIterator[OrchestratorProcess]:
    exported = await _token(tmp_path / "keys", "read")
    process = OrchestratorProcess(mesh, tmp_path / "data", free_port())
    process.env["AURA_AUTH_KEY_FILE"] = exported["AURA_AUTH_KEY_FILE"]
    await process.start()  # its readiness probe is the health check: open to anyone
    try:
        yield process
    finally:
        await process.terminate()


async def test_a_writer_runs_a_workflow_with_live_progress(
    secured: OrchestratorProcess, tmp_path: Path
) -> None:
    writer = await _token(tmp_path / "keys", "write")
    env = clean_env(AURA_ADDRESS=secured.address, AURA_TOKEN=writer["AURA_TOKEN"])
    ran = await aura("run", "complete_style_analysis", "--input", json.dumps(STYLE_INPUT), env=env)
    assert ran.code == 0, ran.stdout + ran.stderr
    assert "SUCCEEDED" in ran.stdout
    listed = await aura("list", env=env)
    assert listed.code == 0 and "complete_style_analysis" in listed.stdout


async def test_a_reader_may_list_but_not_run(secured: OrchestratorProcess, tmp_path: Path) -> None:
    reader = await _token(tmp_path / "keys", "read")
    env = clean_env(AURA_ADDRESS=secured.address, AURA_TOKEN=reader["AURA_TOKEN"])
    assert (await aura("list", env=env)).code == 0
    refused = await aura("run", "complete_style_analysis", "--input", "{}", env=env)
    assert refused.code == 1
    assert "PERMISSION_DENIED" in refused.stderr and "write" in refused.stderr


async def test_an_anonymous_caller_gets_only_the_health_probe(
    secured: OrchestratorProcess,
) -> None:
    env = clean_env(AURA_ADDRESS=secured.address)
    refused = await aura("list", env=env)
    assert refused.code == 1
    assert "UNAUTHENTICATED" in refused.stderr and "TOKEN_MISSING" in refused.stderr
    probe = await aura("health", "--address", secured.address, env=env)
    assert probe.code == 0 and "SERVING" in probe.stdout
