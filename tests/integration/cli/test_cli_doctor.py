"""`aura doctor` against a real deployment: a verdict per check, exit 0 only when all pass."""

from __future__ import annotations

import json

import pytest

from mock_services.mesh import MockMesh
from orchestrator.server import OrchestratorServer
from tests.integration.cli_process import aura, free_port

pytestmark = pytest.mark.integration

CHECKS = [
    "orchestrator liveness",
    "orchestrator readiness",
    "backend image",
    "backend nlu",
    "backend style",
    "backend combination",
    "backend recommendation",
    "smoke run",
]


async def test_a_healthy_deployment_passes_every_check(orchestrator: OrchestratorServer) -> None:
    result = await aura("doctor", "--json", "--address", orchestrator.address)
    assert result.code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names[:2] == CHECKS[:2] and names[-1] == CHECKS[-1]
    assert sorted(names) == sorted(CHECKS)
    assert {c["verdict"] for c in report["checks"]} == {"PASS"}
    smoke = report["checks"][-1]["detail"]
    assert "complete_style_analysis SUCCEEDED" in smoke and "workflowRuns/" in smoke

    text = await aura("doctor", "--address", orchestrator.address)
    assert text.code == 0
    assert "all checks passed" in text.stdout


async def test_a_sick_backend_fails_its_check_and_the_smoke_run_with_what_to_do(
    mesh: MockMesh, orchestrator: OrchestratorServer
) -> None:
    await mesh["style"].set_serving(False)
    result = await aura("doctor", "--json", "--address", orchestrator.address)
    assert result.code == 1
    verdicts = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert verdicts["backend style"]["verdict"] == "FAIL"
    assert "NOT_SERVING" in verdicts["backend style"]["detail"]
    assert "AURA_SERVICE_STYLE_ADDRESSES" in verdicts["backend style"]["advice"]
    assert verdicts["backend nlu"]["verdict"] == "PASS"
    assert verdicts["smoke run"]["verdict"] == "FAIL"


async def test_no_orchestrator_fails_at_once_and_skips_the_rest() -> None:
    result = await aura("doctor", "--address", f"127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.code == 1
    first, *rest = [
        line for line in result.stdout.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP")
    ]
    assert first.startswith("FAIL  orchestrator liveness")
    assert "aura up" in result.stdout
    assert all(line.startswith("SKIP") for line in rest) and len(rest) == 3
