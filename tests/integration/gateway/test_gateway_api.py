"""The HTTP gateway in front of a real orchestrator: every OrchestratorService RPC over
HTTP/JSON at the path of its google.api.http rule, errors as the HTTP status of their gRPC
code with the google.rpc.Status (details included) as the body."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
import yaml

from aura.orchestrator.v1 import orchestrator_pb2
from mock_services.mesh import MockMesh
from orchestrator.gateway import ConsoleServer, routes_of
from orchestrator.server import OrchestratorServer
from tests.helpers import eventually
from tests.integration.gateway.sse import read_events
from tests.integration.orchestrator_helpers import STYLE_INPUT, settings_for

pytestmark = pytest.mark.integration

SERVICE = orchestrator_pb2.DESCRIPTOR.services_by_name["OrchestratorService"]
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"

ONE_STEP = {
    "name": "workflowDefinitions/gateway_echo",
    "description": "One NLU call, for the gateway's tests.",
    "steps": [
        {
            "id": "nlu",
            "method": "aura.nlu.v1.NluService/AnalyzeText",
            "inputs": {"text": {"ref": "input.text"}},
        }
    ],
}


def detail(body: dict[str, Any], type_url: str) -> dict[str, Any]:
    found = [d for d in body["details"] if d["@type"] == type_url]
    assert found, f"no {type_url} in {body['details']}"
    return found[0]


async def start(http: httpx.AsyncClient, **extra: object) -> dict[str, Any]:
    response = await http.post(
        "/v1/workflowRuns",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT, **extra},
    )
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()["workflowRun"]
    return run


async def finished(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run: dict[str, Any] = (await http.get(f"/v1/{name}")).json()["workflowRun"]
        return run if "endTime" in run else None

    return await eventually(check, timeout_s=20, interval_s=0.05)


def test_every_rpc_of_the_service_has_an_http_rule() -> None:
    routed = {route.method.name for route in routes_of(SERVICE)}
    assert routed == {method.name for method in SERVICE.methods}


async def test_definitions_are_listed_created_read_and_deleted(http: httpx.AsyncClient) -> None:
    listed = await http.get("/v1/workflowDefinitions", params={"pageSize": 2})
    assert listed.status_code == 200
    assert len(listed.json()["workflowDefinitions"]) == 2
    assert listed.json()["nextPageToken"]

    checked = await http.post(
        "/v1/workflowDefinitions", params={"validateOnly": "true"}, json=ONE_STEP
    )
    assert checked.status_code == 200
    assert (await http.get("/v1/workflowDefinitions/gateway_echo")).status_code == 404

    created = await http.post("/v1/workflowDefinitions", json=ONE_STEP)
    assert created.status_code == 200, created.text
    assert created.json()["workflowDefinition"]["name"] == ONE_STEP["name"]
    got = await http.get("/v1/workflowDefinitions/gateway_echo")
    assert got.json()["workflowDefinition"]["steps"][0]["id"] == "nlu"

    deleted = await http.delete("/v1/workflowDefinitions/gateway_echo")
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert (await http.get("/v1/workflowDefinitions/gateway_echo")).status_code == 404


async def test_a_run_is_started_read_listed_with_a_filter_and_deleted(
    http: httpx.AsyncClient,
) -> None:
    run = await start(http, labels={"team": "console"}, requestId="gateway-start-1")
    again = await start(http, labels={"team": "console"}, requestId="gateway-start-1")
    assert again["name"] == run["name"]  # idempotent on request_id through the gateway too

    done = await finished(http, run["name"])
    assert done["state"] == "RUN_STATE_SUCCEEDED"
    assert {step["stepId"] for step in done["steps"]} >= {"image", "nlu", "profile"}
    nlu = next(step for step in done["steps"] if step["stepId"] == "nlu")
    assert nlu["output"]["@type"] == "type.googleapis.com/aura.nlu.v1.AnalyzeTextResponse"

    basic = (
        await http.get(f"/v1/{run['name']}", params={"view": "WORKFLOW_RUN_VIEW_BASIC"})
    ).json()
    assert "input" not in basic["workflowRun"]

    listed = await http.get(
        "/v1/workflowRuns", params={"filter": "labels.team = console", "pageSize": 10}
    )
    assert [r["name"] for r in listed.json()["workflowRuns"]] == [run["name"]]

    assert (await http.delete(f"/v1/{run['name']}")).status_code == 200
    assert (await http.get(f"/v1/{run['name']}")).status_code == 404


async def test_execute_answers_with_the_finished_run(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/workflowRuns:execute",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
    )
    assert response.status_code == 200
    assert response.json()["workflowRun"]["state"] == "RUN_STATE_SUCCEEDED"


async def test_cancel_ends_a_hanging_run_cancelled_then_refuses_with_400(
    http: httpx.AsyncClient, mesh: MockMesh
) -> None:
    mesh["image"].faults.hang = True
    run = await start(http)
    cancelled = await http.post(f"/v1/{run['name']}:cancel", json={"reason": "from the test"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["workflowRun"]["state"] == "RUN_STATE_CANCELLED"

    again = await http.post(f"/v1/{run['name']}:cancel", json={})
    assert again.status_code == 400
    assert again.json()["status"] == "FAILED_PRECONDITION"
    assert detail(again.json(), ERROR_INFO)["domain"] == "orchestrator.aura"


async def test_stream_starts_a_run_and_sends_its_events_as_sse(http: httpx.AsyncClient) -> None:
    body = {"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT}
    async with http.stream("POST", "/v1/workflowRuns:stream", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [event async for event in read_events(response)]
    assert events[-1].event == "end"
    data = [event for event in events if event.event == "message"]
    seqs = [int(event.id or 0) for event in data]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [int(e.json()["event"]["seq"]) for e in data] == seqs
    assert data[-1].json()["event"]["runFinished"]["state"] == "RUN_STATE_SUCCEEDED"


async def test_services_analytics_and_transaction_outcomes(http: httpx.AsyncClient) -> None:
    await http.post(
        "/v1/workflowRuns:execute",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
    )
    services = (await http.get("/v1/services")).json()
    assert "aura.nlu.v1.NluService" in {s["service"] for s in services["services"]}
    assert services["replicas"][0]["answering"] is True

    analytics = await http.get(
        "/v1/analytics", params={"window": "3600s", "workflowDefinition": "complete_style_analysis"}
    )
    assert analytics.status_code == 200
    assert analytics.json()["definitions"][0]["runCount"] == "1"

    outcome = await http.get("/v1/transactionOutcomes/some-run/some-group")
    assert outcome.status_code == 200
    assert outcome.json()["decision"] == "TRANSACTION_DECISION_ABORT"  # presumed abort


async def test_an_unknown_run_is_404_with_the_status_and_its_details(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/v1/workflowRuns/no-such-run")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 5
    assert body["status"] == "NOT_FOUND"
    assert "no-such-run" in body["message"]
    assert detail(body, ERROR_INFO)["domain"] == "orchestrator.aura"


async def test_an_invalid_definition_is_400_with_its_field_violations(
    http: httpx.AsyncClient,
) -> None:
    broken = {**ONE_STEP, "steps": [{"id": "nlu", "method": "aura.nlu.v1.NluService/Nothing"}]}
    response = await http.post("/v1/workflowDefinitions", json=broken)
    assert response.status_code == 400
    violations = detail(response.json(), BAD_REQUEST)["fieldViolations"]
    assert any(v["field"].startswith("steps[0].method") for v in violations), violations


async def test_input_that_is_not_the_request_is_400_before_any_call(
    http: httpx.AsyncClient,
) -> None:
    json_type = {"Content-Type": "application/json"}
    not_json = await http.post("/v1/workflowRuns", content=b"{not json", headers=json_type)
    unknown_field = await http.post("/v1/workflowRuns", json={"workflowDefinitio": "x"})
    bad_number = await http.get("/v1/workflowRuns", params={"pageSize": "many"})
    for response in (not_json, unknown_field, bad_number):
        assert response.status_code == 400, response.text
        assert response.json()["status"] == "INVALID_ARGUMENT"
    assert "workflowDefinitio" in unknown_field.json()["message"]


async def test_a_body_not_declared_json_is_415_so_other_sites_cannot_post(
    http: httpx.AsyncClient,
) -> None:
    body = b'{"workflowDefinition": "complete_style_analysis"}'
    for headers in ({"Content-Type": "text/plain"}, {}):
        response = await http.post("/v1/workflowRuns", content=body, headers=headers)
        assert response.status_code == 415
        assert "application/json" in response.json()["message"]
    listed = await http.get("/v1/workflowRuns")
    assert listed.json() == {}  # nothing was started


async def test_a_path_without_a_method_is_404_and_a_wrong_verb_405(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/v1/nothingHere")).status_code == 404
    wrong = await http.put("/v1/workflowRuns/abc")
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "DELETE"}
    custom = await http.get("/v1/workflowRuns/abc:cancel")  # not GetWorkflowRun of "abc:cancel"
    assert custom.status_code == 405
    assert custom.headers["allow"] == "POST"


async def test_a_quota_refusal_is_429_with_retry_info(mesh: MockMesh, tmp_path: Any) -> None:

    settings = dataclasses.replace(
        settings_for(mesh, tmp_path / "data"), max_active_runs=1, max_queued_runs=1
    )
    mesh["image"].faults.hang = True
    server = await OrchestratorServer(settings).start()
    try:
        async with (
            ConsoleServer("127.0.0.1", 0, server.address) as console,
            httpx.AsyncClient(base_url=console.url) as http,
        ):
            body = {"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT}
            statuses = [await http.post("/v1/workflowRuns", json=body) for _ in range(3)]
    finally:
        await server.stop(grace_s=0.1)
    assert [r.status_code for r in statuses] == [200, 200, 429]
    body = statuses[2].json()
    assert body["status"] == "RESOURCE_EXHAUSTED"
    assert detail(body, "type.googleapis.com/google.rpc.RetryInfo")


async def test_an_orchestrator_that_is_down_is_503(orchestrator: OrchestratorServer) -> None:
    address = orchestrator.address
    await orchestrator.stop(grace_s=0.1)
    async with (
        ConsoleServer("127.0.0.1", 0, address) as console,
        httpx.AsyncClient(base_url=console.url) as http,
    ):
        response = await http.get("/v1/workflowRuns")
    assert response.status_code == 503
    assert response.json()["status"] == "UNAVAILABLE"


async def test_the_layout_of_a_definition_puts_each_step_right_of_its_dependencies(
    http: httpx.AsyncClient,
) -> None:
    layout = (await http.get("/console/layout/complete_style_analysis")).json()
    layer = {node["id"]: node["layer"] for node in layout["nodes"]}
    assert layout["edges"]
    for edge in layout["edges"]:
        assert layer[edge["from"]] < layer[edge["to"]]
    assert layer["image"] == layer["nlu"] == 0
    assert (await http.get("/console/layout/nothing")).status_code == 404


async def test_the_console_page_is_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/")
    assert page.status_code == 200
    assert "<title>Aura console</title>" in page.text
    script = await http.get("/static/console.js")
    assert script.status_code == 200


async def test_a_stream_that_fails_at_once_is_a_plain_http_error(http: httpx.AsyncClient) -> None:
    response = await asyncio.wait_for(http.get("/v1/workflowRuns/nope:watch"), timeout=5)
    assert response.status_code == 404
    assert response.json()["status"] == "NOT_FOUND"
    started = await http.post(
        "/v1/workflowRuns:stream", json={"workflowDefinition": "nothing", "input": {}}
    )
    assert started.status_code == 404
    assert detail(started.json(), ERROR_INFO)["reason"] == "DEFINITION_NOT_FOUND"


async def test_a_definition_is_served_as_yaml_like_its_file(http: httpx.AsyncClient) -> None:
    response = await http.get("/console/yaml/complete_style_analysis")
    assert response.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(response.text)
    assert document["name"] == "workflowDefinitions/complete_style_analysis"
    assert document["required_inputs"] == ["user_id", "image_uri", "text"]
    assert document["steps"][0]["inputs"]["image_uri"] == {"ref": "input.image_uri"}
