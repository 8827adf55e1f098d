"""`aura analytics --window` against a real orchestrator: the runs read from the store and
the advice per definition, readable in a pipe."""

from __future__ import annotations

import pytest

from orchestrator.server import OrchestratorServer
from tests.integration.cli_process import aura
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, execute

pytestmark = pytest.mark.integration


async def test_analytics_over_a_window_shows_the_advice_and_its_recommendations(
    orchestrator: OrchestratorServer, stub: Stub
) -> None:
    for _ in range(2):
        await execute(stub, "complete_style_analysis", STYLE_INPUT)
    result = await aura("analytics", "--window", "1h", "--address", orchestrator.address)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "from the store: 2 of 2 finished runs in the window" in lines
    assert "advice for complete_style_analysis (2 runs measured)" in lines
    assert any(line.startswith("critical path (of ") for line in lines)
    assert any(line.startswith("- step ") and "of the critical path" in line for line in lines)
    assert any(line.startswith("- ") and "speedup" in line for line in lines)

    bad = await aura("analytics", "--window", "soon", "--address", orchestrator.address)
    assert bad.code == 2 and "15m" in bad.stderr
