"""WatchWorkflowRun over Server-Sent Events: each event's SSE id is its seq, and a client
that reconnects with Last-Event-ID after a cut gets the rest, none lost and none twice."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mock_services.mesh import MockMesh
from tests.integration.gateway.sse import Sse, read_events
from tests.integration.orchestrator_helpers import STYLE_INPUT, Stub, collect_events

pytestmark = pytest.mark.integration


async def watch(http: httpx.AsyncClient, name: str, last_id: str | None, take: int) -> list[Sse]:
    """Up to `take` events of the run's watch stream (then the connection is cut), or all
    of them to its end."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[Sse] = []
    async with http.stream("GET", f"/v1/{name}:watch", headers=headers) as response:
        assert response.status_code == 200
        async for event in read_events(response):
            events.append(event)
            if event.event == "end" or len(events) == take:
                break
    return events


async def test_a_cut_watch_resumes_from_last_event_id_without_loss_or_duplicates(
    http: httpx.AsyncClient, mesh: MockMesh, stub: Stub
) -> None:
    for server in mesh.servers.values():
        server.faults.latency_ms = 40  # the run is live while it is watched
    started = await http.post(
        "/v1/workflowRuns",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
    )
    name = started.json()["workflowRun"]["name"]

    received: list[Sse] = []
    last_id: str | None = None
    cuts = 0
    while not received or received[-1].event != "end":
        part = await watch(http, name, last_id, take=3)
        received += part
        ids = [event.id for event in part if event.id]
        last_id = ids[-1] if ids else last_id
        cuts += 1
    assert cuts > 2  # the stream really was cut several times

    data = [event for event in received if event.event == "message"]
    seqs = [int(event.id or 0) for event in data]
    expected = [event.seq for event in await collect_events(stub, name)]
    assert seqs == expected
    assert len(set(seqs)) == len(seqs)
    assert [int(event.json()["event"]["seq"]) for event in data] == seqs
    assert "runFinished" in data[-1].json()["event"]


async def test_a_watch_after_the_final_event_ends_at_once(
    http: httpx.AsyncClient, stub: Stub
) -> None:
    done = await http.post(
        "/v1/workflowRuns:execute",
        json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
    )
    run = done.json()["workflowRun"]
    events = await watch(http, run["name"], run["lastEventSeq"], take=100)
    assert [event.event for event in events] == ["end"]


async def test_a_last_event_id_that_is_not_a_seq_is_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/workflowRuns/x:watch", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert response.json()["status"] == "INVALID_ARGUMENT"


async def test_fifty_watch_streams_are_served_at_once(
    http: httpx.AsyncClient, mesh: MockMesh
) -> None:
    mesh["image"].faults.hang = True  # the runs stay live while they are watched
    names = []
    for _ in range(50):
        started = await http.post(
            "/v1/workflowRuns",
            json={"workflowDefinition": "complete_style_analysis", "input": STYLE_INPUT},
        )
        names.append(started.json()["workflowRun"]["name"])
    open_streams = 0
    all_open = asyncio.Event()

    async def first_event_then_hold(name: str) -> str:
        nonlocal open_streams
        async with http.stream("GET", f"/v1/{name}:watch") as response:
            assert response.status_code == 200
            async for event in read_events(response):
                open_streams += 1
                if open_streams == len(names):
                    all_open.set()
                await all_open.wait()  # a gateway that served one stream at a time stops here
                return event.id

    ids = await asyncio.wait_for(
        asyncio.gather(*(first_event_then_hold(name) for name in names)), timeout=20
    )
    assert ids == ["1"] * len(names)
