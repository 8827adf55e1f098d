"""The console in front of an orchestrator that asks for tokens: the page asks for one,
keeps it in its session (an HttpOnly cookie the page's scripts cannot read), and then
shows the runs of that token's tenant only, live updates included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from playwright.async_api import Page, Route

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from mock_services.mesh import MockMesh
from orchestrator.security import Permission
from orchestrator.server import OrchestratorServer
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct
from tests.integration.security.secured_settings import tenant_token, token_settings

pytestmark = pytest.mark.integration


def _token(private: Path, tenant: str) -> str:
    return tenant_token(private, tenant, Permission.WRITE)


@pytest.fixture
async def orchestrator(
    mesh: MockMesh, tmp_path: Path, token_keys: tuple[Path, Path]
) -> AsyncIterator[OrchestratorServer]:
    """This module's orchestrator (the console's fixtures use it): tokens required."""
    server = await OrchestratorServer(
        token_settings(mesh, tmp_path / "data", token_keys[1])
    ).start()
    try:
        yield server
    finally:
        await server.stop(0.5)


async def _start(orchestrator: OrchestratorServer, token: str) -> str:
    async with grpc.aio.insecure_channel(orchestrator.address) as channel:
        answer = await orchestrator_pb2_grpc.OrchestratorServiceStub(channel).ExecuteWorkflowRun(
            orchestrator_pb2.ExecuteWorkflowRunRequest(
                workflow_definition="workflowDefinitions/complete_style_analysis",
                input=struct(STYLE_INPUT),
            ),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=20,
        )
    return answer.workflow_run.name.removeprefix("workflowRuns/")


async def test_the_console_asks_for_a_token_then_shows_that_tenants_runs_only(
    page: Page, orchestrator: OrchestratorServer, token_keys: tuple[Path, Path]
) -> None:
    ours = await _start(orchestrator, _token(token_keys[0], "acme"))
    theirs = await _start(orchestrator, _token(token_keys[0], "globex"))

    await page.goto("/#/runs")
    await page.wait_for_selector("#sign-in input[name=token]")
    await page.fill("#sign-in input[name=token]", "not-a-token")
    await page.click("#sign-in button")
    await page.wait_for_selector("#sign-in >> text=not a JWT")

    await page.fill("#sign-in input[name=token]", _token(token_keys[0], "acme"))
    await page.click("#sign-in button")
    await page.wait_for_selector(f'#runs tr[data-run="{ours}"]')
    assert await page.query_selector("#sign-in") is None
    assert await page.query_selector(f'#runs tr[data-run="{theirs}"]') is None
    readable = await page.evaluate("document.cookie")
    assert "aura_session" not in readable, "the session cookie is HttpOnly"

    await page.goto(f"/#/runs/{ours}")
    await page.wait_for_selector('#run-state .badge[data-state="SUCCEEDED"]')


async def test_a_refusal_to_a_call_sent_before_signing_in_opens_no_second_sign_in(
    page: Page, orchestrator: OrchestratorServer, token_keys: tuple[Path, Path]
) -> None:
    # The runs page asks for the definitions and the runs at once; the definitions' call
    # is held until after the sign-in, so its 401 (it went without the session) lands on
    # a signed-in page, as a poll in flight while a token is sent does.
    ours = await _start(orchestrator, _token(token_keys[0], "acme"))
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(route: Route) -> None:
        if held.is_set():
            await route.continue_()
            return
        answer = await route.fetch()  # now, without a session: a 401
        held.set()
        await release.wait()
        await route.fulfill(response=answer)

    await page.route("**/v1/workflowDefinitions*", hold_the_first)
    await page.goto("/#/runs")
    await page.wait_for_selector("#sign-in input[name=token]")
    await asyncio.wait_for(held.wait(), 10)
    await page.fill("#sign-in input[name=token]", _token(token_keys[0], "acme"))
    await page.click("#sign-in button")
    await page.wait_for_selector(f'#runs tr[data-run="{ours}"]')

    async with page.expect_response(
        lambda response: "workflowDefinitions" in response.url and response.status == 401
    ):
        release.set()
    await page.evaluate("() => new Promise((done) => setTimeout(done, 200))")
    assert await page.query_selector("#sign-in") is None
