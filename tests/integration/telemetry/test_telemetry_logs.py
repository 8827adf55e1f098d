"""JSON logs of a run: every line about it carries its run id (and, traced, its trace id)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aura.orchestrator.v1 import run_pb2
from orchestrator.telemetry import TelemetrySettings, log_handler
from tests.integration.orchestrator_helpers import STYLE_INPUT, execute
from tests.integration.telemetry.tracing_helpers import traced_stack

pytestmark = pytest.mark.integration


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger also writes JSON lines (level DEBUG) into a buffer."""
    buffer = io.StringIO()
    handler = log_handler(TelemetrySettings(log_format="json"), buffer)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def lines_about(buffer: io.StringIO, run: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
    return [e for e in entries if run in e["message"] or e.get("run_id") == run]


async def run_once(tmp_path: Path) -> run_pb2.WorkflowRun:
    async with traced_stack(tmp_path) as (_, stub):
        return await execute(stub, "complete_style_analysis", STYLE_INPUT)


async def test_every_line_about_a_run_carries_its_run_and_step_ids(
    json_log: io.StringIO, tmp_path: Path
) -> None:
    run = await run_once(tmp_path)
    lines = lines_about(json_log, run.name)
    events = [line["event"] for line in lines if "event" in line]
    assert events[0] == "run_created" and events[-1] == "run_finished"
    assert all(line["run_id"] == run.name for line in lines)
    succeeded = [line for line in lines if line.get("event") == "step_succeeded"]
    assert sorted(line["step_id"] for line in succeeded) == sorted(s.step_id for s in run.steps)
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO"}


async def test_traced_run_lines_carry_the_runs_trace_id(
    spans: InMemorySpanExporter, json_log: io.StringIO, tmp_path: Path
) -> None:
    run = await run_once(tmp_path)
    [run_span] = [s for s in spans.get_finished_spans() if s.name.startswith("run ")]
    trace_id = format(run_span.context.trace_id, "032x")
    lines = lines_about(json_log, run.name)
    # Every event of the run has its line (created, started, a start and a success per
    # step, finished); whatever else mentions the run is checked too.
    events = [line["event"] for line in lines if "event" in line]
    assert len(events) == 3 + 2 * len(run.steps), events
    assert all(line["run_id"] == run.name for line in lines)
    assert all(line.get("trace_id") == trace_id for line in lines), [
        line for line in lines if line.get("trace_id") != trace_id
    ]
