"""An in-doubt participant asks an orchestrator that requires bearer tokens: with
AURA_MOCK_ORCHESTRATOR_TOKEN (a `read` token) it hears the outcome; without, it is refused
and stays prepared, asking again, never deciding alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mock_services.common.ledger import ABORTED, PREPARED
from mock_services.mesh import MockMesh
from orchestrator.security import Permission
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.security.secured_settings import tenant_token, token_settings
from tests.integration.security.test_mesh_tls import prepare_in_doubt

pytestmark = pytest.mark.integration


@pytest.fixture(name="guarded")
async def guarded_fixture(
    mesh: MockMesh, tmp_path: Path, token_keys: tuple[Path, Path]
) -> AsyncIterator[OrchestratorServer]:
    server = await OrchestratorServer(
        token_settings(mesh, tmp_path / "data", token_keys[1])
    ).start()
    try:
        yield server
    finally:
        await server.stop(0.2)


async def test_with_a_read_token_the_participant_hears_the_presumed_abort(
    mesh: MockMesh,
    guarded: OrchestratorServer,
    token_keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tenant_token(token_keys[0], "default", Permission.READ)
    monkeypatch.setenv("AURA_MOCK_ORCHESTRATOR_TOKEN", token)
    key = prepare_in_doubt(mesh, guarded.address)
    ledger = mesh["style"].ledger
    assert ledger is not None
    await eventually(
        lambda: ledger.branch_states()[(key.transaction_id, key.branch_id)] == ABORTED,
        message="the branch aborted on the coordinator's answer",
    )


async def test_without_a_token_the_participant_stays_prepared_and_asks_again(
    mesh: MockMesh, guarded: OrchestratorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_MOCK_ORCHESTRATOR_TOKEN", raising=False)
    key = prepare_in_doubt(mesh, guarded.address)
    resolver, ledger = mesh["style"].in_doubt, mesh["style"].ledger
    assert resolver is not None and ledger is not None
    await eventually(lambda: resolver.asked >= 2, message="asked twice")
    assert ledger.branch_states()[(key.transaction_id, key.branch_id)] == PREPARED
