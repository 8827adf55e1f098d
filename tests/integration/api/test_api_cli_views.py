"""`aura list` (BASIC view) and `aura get` (FULL view) against a real orchestrator."""

from __future__ import annotations

import argparse
import json

import pytest

from orchestrator.cli.client_commands import cmd_get, cmd_list
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute

pytestmark = pytest.mark.integration


async def test_aura_list_shows_runs_and_aura_get_prints_outputs(
    stub: Stub,
    orchestrator: OrchestratorServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: rich does not shorten cells
    run = await execute(stub, "complete_style_analysis", STYLE_INPUT)
    run_id = run.name.removeprefix("workflowRuns/")

    listing = argparse.Namespace(
        address=orchestrator.address,
        filter="state = SUCCEEDED",
        page_size=20,
        page_token="",
        json=False,
    )
    assert await cmd_list(listing) == 0
    table = capsys.readouterr().out
    assert run_id in table and "SUCCEEDED" in table
    header = table.splitlines()[0]
    assert "ended" in header, "BASIC runs carry no steps: the end time instead"
    assert run.end_time.ToDatetime().isoformat(timespec="seconds") in table

    assert await cmd_get(argparse.Namespace(address=orchestrator.address, run=run.name)) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["input"] == STYLE_INPUT
    outputs = {s["stepId"]: s.get("output", {}) for s in printed["steps"]}
    assert outputs["nlu"]["@type"] == "type.googleapis.com/aura.nlu.v1.AnalyzeTextResponse"
