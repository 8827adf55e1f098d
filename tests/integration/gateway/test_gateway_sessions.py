"""The gateway in front of an orchestrator that asks for tokens: it has no credentials of
its own. A call carries its caller's Authorization header, or its browser session's token
(POST /console/session, an HttpOnly SameSite=Strict cookie, for EventSource), or nothing:
UNAUTHENTICATED as 401, PERMISSION_DENIED as 403, another tenant's run as 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mock_services.mesh import MockMesh
from orchestrator.gateway import ConsoleServer
from orchestrator.security import Permission, make_signing_key
from orchestrator.server import OrchestratorServer
from tests.integration.gateway.sse import read_events
from tests.integration.orchestrator_helpers import STYLE_INPUT
from tests.integration.security.secured_settings import tenant_token, token_settings

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"


@dataclass
class Guarded:
    url: str
    private_key: Path

    def token(self, tenant: str, *permissions: Permission) -> str:
        return tenant_token(self.private_key, tenant, *permissions)


@pytest.fixture(name="guarded")
async def guarded_fixture(
    mesh: MockMesh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Guarded]:
    private, public = make_signing_key(tmp_path / "keys")
    orchestrator = await OrchestratorServer(token_settings(mesh, tmp_path / "data", public)).start()
    guarded = Guarded("", private)
    # A token in the gateway's own environment must not speak for its callers.
    monkeypatch.setenv("AURA_TOKEN", guarded.token("acme", Permission.ADMIN))
    console = await ConsoleServer("127.0.0.1", 0, orchestrator.address).start()
    try:
        yield Guarded(console.url, private)
    finally:
        await console.stop()
        await orchestrator.stop(0.5)


def _reason(answer: httpx.Response) -> str:
    return str(answer.json()["details"][0]["reason"])


async def _execute(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    answer = await client.post(
        "/v1/workflowRuns:execute",
        json={"workflowDefinition": STYLE, "input": STYLE_INPUT},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    run: dict[str, object] = answer.json()["workflowRun"]
    return run


async def test_an_anonymous_caller_is_401_whatever_the_gateways_environment_holds(
    guarded: Guarded,
) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as client:
        answer = await client.get("/v1/workflowRuns")
    assert answer.status_code == 401
    assert answer.json()["status"] == "UNAUTHENTICATED" and _reason(answer) == "TOKEN_MISSING"


async def test_the_callers_header_speaks_for_it(guarded: Guarded) -> None:
    reader = {"Authorization": f"Bearer {guarded.token('acme', Permission.READ)}"}
    async with httpx.AsyncClient(base_url=guarded.url, timeout=30) as client:
        assert (await client.get("/v1/workflowRuns", headers=reader)).status_code == 200
        start = await client.post(
            "/v1/workflowRuns",
            json={"workflowDefinition": STYLE, "input": STYLE_INPUT},
            headers=reader,
        )
    assert start.status_code == 403 and _reason(start) == "MISSING_PERMISSION"


async def test_a_session_is_kept_only_for_a_token_the_orchestrator_accepts(
    guarded: Guarded, tmp_path: Path
) -> None:
    stranger, _ = make_signing_key(tmp_path / "stranger")
    forged = tenant_token(stranger, "acme", Permission.ADMIN)
    async with httpx.AsyncClient(base_url=guarded.url) as client:
        refused = await client.post("/console/session", json={"token": forged})
        assert refused.status_code == 401 and _reason(refused) == "TOKEN_BAD_SIGNATURE"
        assert "set-cookie" not in refused.headers
        form = await client.post("/console/session", data={"token": forged})
        assert form.status_code == 415, "a cross-site form cannot open a session"


async def test_a_browser_session_carries_the_token_on_calls_and_event_streams(
    guarded: Guarded,
) -> None:
    token = guarded.token("acme", Permission.WRITE)
    async with httpx.AsyncClient(base_url=guarded.url, timeout=30) as client:
        opened = await client.post("/console/session", json={"token": token})
        assert opened.status_code == 200
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie

        run = await _execute(client, {})
        seqs = []
        async with client.stream("GET", f"/v1/{run['name']}:watch") as response:
            assert response.status_code == 200
            async for event in read_events(response):
                if event.event == "end":
                    break
                seqs.append(int(str(event.id)))
        assert seqs == list(range(1, int(str(run["lastEventSeq"])) + 1))

        closed = await client.delete("/console/session")
        assert closed.status_code == 200
        assert (await client.get("/v1/workflowRuns")).status_code == 401


async def test_another_tenants_session_sees_no_run_of_ours(guarded: Guarded) -> None:
    acme = {"Authorization": f"Bearer {guarded.token('acme', Permission.WRITE)}"}
    globex = {"Authorization": f"Bearer {guarded.token('globex', Permission.WRITE)}"}
    async with httpx.AsyncClient(base_url=guarded.url, timeout=30) as client:
        run = await _execute(client, acme)
        theirs = await client.get(f"/v1/{run['name']}", headers=globex)
        listed = await client.get("/v1/workflowRuns", headers=globex)
    assert theirs.status_code == 404
    assert listed.status_code == 200 and listed.json().get("workflowRuns", []) == []
