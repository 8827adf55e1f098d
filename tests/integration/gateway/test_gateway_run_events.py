"""GET /console/events/{run}?afterSeq=N: the run and its events after N in one answer,
for console tabs that hold no event stream."""

from __future__ import annotations

import httpx
import pytest

from mock_services.mesh import MockMesh
from tests.integration.orchestrator_helpers import STYLE_INPUT

pytestmark = pytest.mark.integration


async def test_polling_after_each_answers_last_seq_gets_every_event_once(
    http: httpx.AsyncClient, mesh: MockMesh
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 40  # the run is live while it is polled
    started = await http.post(
        "/v1/workflowRuns",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
    )
    name = started.json()["workflowRun"]["name"]
    seqs: list[int] = []
    polls = 0
    while True:
        polls += 1
        answer = await http.get(f"/console/events/{name}", params={"afterSeq": len(seqs)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seqs += [int(response["event"]["seq"]) for response in body["events"]]
        run = body["workflowRun"]
        assert int(run.get("lastEventSeq", 0)) == len(seqs), "up to the run's last seq then"
        if run["state"] in {"RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED"}:
            break
    assert seqs == list(range(1, len(seqs) + 1)), "none lost, none twice"
    assert polls > 1, "the run was polled while it went on"
    final = await http.get(f"/console/events/{name}", params={"afterSeq": len(seqs)})
    assert final.json()["events"] == []


async def test_an_unknown_run_or_a_bad_seq_is_said(http: httpx.AsyncClient) -> None:
    unknown = await http.get("/console/events/workflowRuns/no-such-run")
    assert unknown.status_code == 404
    assert unknown.json()["status"] == "NOT_FOUND"
    bad = await http.get("/console/events/workflowRuns/x", params={"afterSeq": "three"})
    assert bad.status_code == 400
    assert "afterSeq" in bad.json()["message"]
