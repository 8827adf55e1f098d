"""Service state across replicas: every replica's view of each endpoint, current,
with each transition an event, and a silent replica's view aging out."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.bus import (
    SERVICE_STATE,
    BusConnection,
    EndpointState,
    ServiceStateBoard,
    TopicReader,
)

pytestmark = pytest.mark.integration
NLU = "aura.nlu.v1.NluService"


async def test_the_board_shows_every_replicas_view_and_publishes_transitions(
    bus: BusConnection,
) -> None:
    board = ServiceStateBoard(bus)
    await board.record(EndpointState("r1", NLU, "10.0.0.5:8002", "open", "NOT_SERVING"))
    await board.record(EndpointState("r2", NLU, "10.0.0.5:8002", "closed", "SERVING"))
    await board.record(EndpointState("r1", NLU, "10.0.0.5:8002", "half_open", "SERVING"))
    states = [(s.replica, s.breaker, s.serving) for s in await board.snapshot()]
    assert states == [("r1", "half_open", "SERVING"), ("r2", "closed", "SERVING")]
    events, _ = await TopicReader(bus).recent(SERVICE_STATE, 10)
    assert [e.payload["breaker"] for e in events] == ["half_open", "closed", "open"]
    assert {e.key for e in events} == {NLU}


async def test_a_replica_that_stops_refreshing_ages_out(bus: BusConnection) -> None:
    board = ServiceStateBoard(bus, stale_after_s=0.3)
    await board.refresh([EndpointState("gone", NLU, "a:1", "closed", "SERVING")])
    await asyncio.sleep(0.2)
    await board.refresh([EndpointState("alive", NLU, "a:1", "open", "NOT_SERVING")])
    await asyncio.sleep(0.2)
    assert [s.replica for s in await board.snapshot()] == ["alive"]
