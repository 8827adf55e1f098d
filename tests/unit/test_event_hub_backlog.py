"""`EventHub.slowest_backlog()`: what the watch-lag gauge reports."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2
from orchestrator.events import EventHub


def _events(run: str, count: int) -> list[run_pb2.RunEvent]:
    return [run_pb2.RunEvent(run=run, seq=seq, step_scheduled={}) for seq in range(1, count + 1)]


async def test_the_slowest_backlog_is_the_most_events_one_watcher_has_not_read() -> None:
    hub = EventHub()
    assert hub.slowest_backlog() == 0
    with hub.subscribe("workflowRuns/a") as slow, hub.subscribe("workflowRuns/b"):
        hub.publish(_events("workflowRuns/a", 3) + _events("workflowRuns/b", 1))
        assert hub.slowest_backlog() == 3

        for _ in range(3):
            await anext(slow)
        assert hub.slowest_backlog() == 1
    assert hub.slowest_backlog() == 0
