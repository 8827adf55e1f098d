"""Helpers for watch tests: a run's whole history, committing it, collecting a watch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aura.orchestrator.v1 import run_pb2
from orchestrator.events import EventHub, watch_run
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore


def script(run_id: str) -> list[run_pb2.RunEvent]:
    """A whole successful two-step run with a retry: 12 events."""
    run = f"workflowRuns/{run_id}"
    kinds: list[dict[str, Any]] = [
        {"run_created": {"workflow_definition": "workflowDefinitions/demo"}},
        {"run_started": {}},
        {"step_scheduled": {"step_id": "parse"}},
        {"step_started": {"step_id": "parse", "attempt": 1}},
        {"step_attempt_failed": {"step_id": "parse", "attempt": 1}},
        {"step_started": {"step_id": "parse", "attempt": 2}},
        {"step_succeeded": {"step_id": "parse", "attempt": 2}},
        {"step_scheduled": {"step_id": "style"}},
        {"step_started": {"step_id": "style", "attempt": 1}},
        {"step_succeeded": {"step_id": "style", "attempt": 1}},
        {"step_skipped": {"step_id": "rank", "reason": "condition false"}},
        {"run_finished": {"state": run_pb2.RUN_STATE_SUCCEEDED}},
    ]
    return [run_pb2.RunEvent(run=run, seq=seq, **kind) for seq, kind in enumerate(kinds, start=1)]


async def commit(store: SqliteRunStore, events: Sequence[run_pb2.RunEvent]) -> None:
    """Commits events as the engine does: create_run for seq 1, appends after."""
    if events and events[0].seq == 1:
        await store.create_run(events[0])
        events = events[1:]
    if events:
        await store.append(events)


async def collect(
    store: SqliteRunStore, hub: EventHub, run: str, after_seq: int = 0
) -> list[run_pb2.RunEvent]:
    return [event async for event in watch_run(store, hub, run, after_seq, scope=EVERY_TENANT)]
