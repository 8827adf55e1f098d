"""What the `aura` command prints: ids never cut, clocks that tick, a result only for a
run that has one, analytics as tables."""

from __future__ import annotations

import io
import re
import time

from google.protobuf import any_pb2, duration_pb2
from rich.console import Console

from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.cli.analytics_view import print_analytics
from orchestrator.cli.client_commands import print_result
from orchestrator.cli.progress import ProgressPrinter
from orchestrator.cli.tables import print_table
from tests.helpers import eventually

RUN = "workflowRuns/27b3c1f0e9d84e2a9c1b5a7d3e2f1c0b"
HEADERS = ("run", "definition", "state", "created", "steps")
ROW = (RUN, "complete_style_analysis", "SUCCEEDED", "2026-12-01T23:00:00Z", "5/5")


def console(*, terminal: bool, width: int = 80) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=width, color_system=None), buffer


def test_a_narrow_terminal_gets_every_id_whole() -> None:
    out, buffer = console(terminal=True, width=40)
    print_table(out, HEADERS, [ROW, ROW])
    assert buffer.getvalue().count(RUN) == 2


def test_piped_output_has_one_row_per_line_with_the_whole_id_first() -> None:
    out, buffer = console(terminal=False)
    print_table(out, HEADERS, [ROW])
    lines = buffer.getvalue().splitlines()
    assert lines[0].split() == list(HEADERS)
    assert lines[1].split() == list(ROW)


def test_a_wide_terminal_gets_a_boxed_table() -> None:
    out, buffer = console(terminal=True, width=160)
    print_table(out, HEADERS, [ROW])
    assert RUN in buffer.getvalue()
    assert "┃" in buffer.getvalue()


def event(seq: int, at: float, **kind: object) -> run_pb2.RunEvent:
    result = run_pb2.RunEvent(run=RUN, seq=seq, **kind)  # type: ignore[arg-type]
    result.time.FromNanoseconds(int(at * 1e9))
    return result


async def test_a_running_steps_clock_ticks_between_events() -> None:
    out, buffer = console(terminal=True, width=120)
    now = time.time()
    with ProgressPrinter(out) as printer:
        printer.show(
            event(
                1,
                now,
                run_created={
                    "workflow_definition": "workflowDefinitions/slow",
                    "steps": [{"step_id": "slow", "method": "aura.nlu.v1.NluService/AnalyzeText"}],
                },
            )
        )
        printer.show(event(2, now, step_started={"step_id": "slow", "attempt": 1}))

        def clocks_shown() -> set[str]:
            return set(re.findall(r"slow\s+aura\.nlu\S+\s+1\s+(\d+\.\d) ms", buffer.getvalue()))

        # No event arrives after the start, yet the step's time moves on screen.
        await eventually(lambda: len(clocks_shown()) >= 3, timeout_s=10, interval_s=0.05)


def finished_run(state: int, *, error: str = "") -> run_pb2.WorkflowRun:
    output = any_pb2.Any()
    output.Pack(nlu_pb2.AnalyzeTextResponse())
    run = run_pb2.WorkflowRun(name=RUN, state=state)  # type: ignore[arg-type]
    run.steps.add(step_id="nlu", state=run_pb2.STEP_STATE_SUCCEEDED, output=output)
    run.steps.add(step_id="outfits", state=run_pb2.STEP_STATE_CANCELLED)
    if error:
        run.error.code, run.error.message = 1, error
    return run


def test_a_cancelled_run_shows_why_and_no_step_result() -> None:
    out, buffer = console(terminal=False)
    print_result(out, finished_run(run_pb2.RUN_STATE_CANCELLED, error="cancelled by ada"))
    text = buffer.getvalue()
    assert "result of step" not in text
    assert f"{RUN} RUN_STATE_CANCELLED: CANCELLED: cancelled by ada" in text
    assert f"aura get {RUN}" in text


def test_a_succeeded_run_shows_its_last_steps_result() -> None:
    out, buffer = console(terminal=False)
    print_result(out, finished_run(run_pb2.RUN_STATE_SUCCEEDED))
    assert "result of step nlu" in buffer.getvalue()


def ms(value: float) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromNanoseconds(int(value * 1e6))
    return result


def test_analytics_read_as_tables_with_percentages_and_milliseconds() -> None:
    response = orchestrator_pb2.GetAnalyticsResponse(
        definitions=[
            orchestrator_pb2.DefinitionAnalytics(
                workflow_definition="workflowDefinitions/complete_style_analysis",
                run_count=40,
                success_rate=0.975,
                partial_rate=0.025,
                latency_p50=ms(412.5),
                latency_p90=ms(600),
                latency_p99=ms(910),
            )
        ],
        failures=[
            orchestrator_pb2.FailureAnalytics(
                service="aura.nlu.v1.NluService",
                method="aura.nlu.v1.NluService/AnalyzeText",
                code="UNAVAILABLE",
                count=3,
            )
        ],
        services=[orchestrator_pb2.ServiceAnalytics(service="aura.nlu.v1.NluService")],
    )
    out, buffer = console(terminal=False)
    print_analytics(out, response)
    lines = buffer.getvalue().splitlines()
    assert "complete_style_analysis  40    97.5%      2.5%    412.5 ms" in "\n".join(lines)
    assert any(
        line.split() == ["aura.nlu.v1.NluService", "AnalyzeText", "UNAVAILABLE", "-", "3"]
        for line in lines
    )
    assert "runCount" not in buffer.getvalue() and "{" not in buffer.getvalue()
