"""`aura analytics` shows how much of the store it read and each definition's advice as
tables with its recommendations; `--window` takes 90s, 15m, 1h, 7d."""

from __future__ import annotations

import argparse
import io

import pytest
from google.protobuf import duration_pb2
from rich.console import Console

from aura.orchestrator.v1 import orchestrator_pb2
from orchestrator.cli.analytics_view import parse_window, print_analytics

STYLE = "workflowDefinitions/complete_style_analysis"


def ms(value: float) -> duration_pb2.Duration:
    result = duration_pb2.Duration()
    result.FromNanoseconds(int(value * 1e6))
    return result


def response() -> orchestrator_pb2.GetAnalyticsResponse:
    advice = orchestrator_pb2.DefinitionAdvice(workflow_definition=STYLE, run_count=40)
    path = advice.critical_path
    path.run_count = 38
    path.mean_length.CopyFrom(ms(200))
    path.recommendation = "step image is 74% of the critical path image -> profile"
    path.steps.add(
        step_id="image",
        method="aura.image.v1.ImageProcessingService/AnalyzeImage",
        mean_duration=ms(148),
        share=0.74,
    )
    path.steps.add(
        step_id="profile",
        method="aura.style.v1.StyleProfileService/BuildStyleProfile",
        mean_duration=ms(52),
        share=0.26,
    )
    advice.parallelism.ideal_speedup = 1.5
    advice.parallelism.measured_speedup = 1.25
    advice.parallelism.recommendation = "measured speedup 1.25x of an ideal 1.50x (83%)"
    advice.cache_candidates.add(
        step_id="nlu",
        method="aura.nlu.v1.NluService/AnalyzeText",
        call_count=40,
        distinct_request_count=4,
        repeated_call_count=36,
        repeated_call_time=ms(720),
        recommendation="step nlu sent 36 of its 40 calls ...",
    )
    advice.retry_hot_spots.add(
        step_id="nlu",
        method="aura.nlu.v1.NluService/AnalyzeText",
        execution_count=40,
        retry_count=6,
        retry_time=ms(610),
        recommendation="step nlu retried 6 times ...",
    )
    advice.breaker_hot_spots.add(
        service="aura.nlu.v1.NluService",
        circuit_rejections=3,
        failed_steps=2,
        circuit_trips=1,
        circuit_open=True,
        recommendation="aura.nlu.v1.NluService: 3 attempts ...",
    )
    return orchestrator_pb2.GetAnalyticsResponse(
        definitions=[orchestrator_pb2.DefinitionAnalytics(workflow_definition=STYLE, run_count=40)],
        runs_matched=7000,
        runs_analyzed=5000,
        max_analyzed_runs=5000,
        max_counted_runs=100_000,
        advice=[advice],
    )


def printed(terminal: bool = False) -> list[str]:
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=terminal, width=200, color_system=None)
    print_analytics(out, response())
    return buffer.getvalue().splitlines()


def test_the_output_says_how_many_stored_runs_were_analysed_of_how_many() -> None:
    lines = printed()
    assert "from the store: 5000 of 7000 finished runs in the window (the newest 5000)" in lines


def test_each_finding_is_a_row_and_each_recommendation_a_line() -> None:
    lines = printed()
    rows = [line.split() for line in lines]
    assert ["image", "AnalyzeImage", "148.0", "ms", "74.0%"] in rows
    assert ["nlu", "AnalyzeText", "40", "4", "36", "720.0", "ms", "no"] in rows
    assert ["nlu", "AnalyzeText", "40", "6", "610.0", "ms", "0"] in rows
    assert ["aura.nlu.v1.NluService", "3", "2", "1", "yes"] in rows
    assert "advice for complete_style_analysis (40 runs measured)" in lines
    assert "- step image is 74% of the critical path image -> profile" in lines
    recommendations = [line for line in lines if line.startswith("- ")]
    assert len(recommendations) == 5


def test_on_a_terminal_the_advice_is_boxed_tables() -> None:
    text = "\n".join(printed(terminal=True))
    assert "critical path (of 38 runs, 200.0 ms on average)" in text
    assert "┃ step" in text and "1.50x" in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("2.5", 2.5), (" 1H ", 3600)],
)
def test_a_window_reads_as_seconds(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1h", "1w", "h", "1 hour"])
def test_a_bad_window_is_refused_with_examples(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="15m"):
        parse_window(text)
