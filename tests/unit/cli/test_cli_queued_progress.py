"""The live progress view shows a queued run as QUEUED until it starts."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2
from orchestrator.cli.progress import STATE_STYLE, ProgressView


def _event(seq: int, **kind: object) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(run="workflowRuns/r1", seq=seq, **kind)  # type: ignore[arg-type]
    event.time.FromNanoseconds(1_767_225_600 * 10**9 + seq)
    return event


def test_a_queued_run_reads_queued_then_running() -> None:
    view = ProgressView()
    view.apply(
        _event(1, run_created={"workflow_definition": "workflowDefinitions/d", "queued": True})
    )
    assert view.state == "QUEUED"
    assert "QUEUED" in STATE_STYLE
    view.apply(_event(2, run_started={}))
    assert view.state == "RUNNING"


def test_a_run_started_at_once_reads_pending_first() -> None:
    view = ProgressView()
    view.apply(_event(1, run_created={"workflow_definition": "workflowDefinitions/d"}))
    assert view.state == "PENDING"
