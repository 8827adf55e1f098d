"""Telemetry without sockets: settings from the environment, log formats, event-derived metrics."""

from __future__ import annotations

import io
import json
import logging

import pytest
from google.protobuf import duration_pb2
from google.rpc import status_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.telemetry import RunMetrics, TelemetrySettings, log_handler
from orchestrator.telemetry.tracing import current_run, current_step


def test_settings_from_env_defaults_and_overrides() -> None:
    default = TelemetrySettings.from_env({})
    assert default.metrics_port == 9464 and default.log_format == "text"
    assert not default.tracing_enabled
    custom = TelemetrySettings.from_env(
        {
            "AURA_METRICS_PORT": "off",
            "AURA_LOG_FORMAT": "JSON",
            "AURA_LOG_LEVEL": "debug",
            "AURA_OTLP_ENDPOINT": "http://collector:4317",
        }
    )
    assert custom.metrics_port is None and custom.log_format == "json"
    assert custom.log_level == "DEBUG" and custom.tracing_enabled
    assert TelemetrySettings().metrics_port is None, "bare settings serve no port"
    with pytest.raises(ValueError, match="AURA_LOG_FORMAT"):
        TelemetrySettings.from_env({"AURA_LOG_FORMAT": "xml"})


def _log_line(log_format: str, **extra: object) -> str:
    buffer = io.StringIO()
    logger = logging.getLogger(f"test.telemetry.{log_format}")
    logger.propagate = False
    handler = log_handler(TelemetrySettings(log_format=log_format), buffer)  # type: ignore[arg-type]
    logger.addHandler(handler)
    try:
        logger.warning("about %s", "the run", extra=extra)
    finally:
        logger.removeHandler(handler)
    return buffer.getvalue().strip()


def test_json_lines_carry_run_and_step_from_the_task_context() -> None:
    run_token, step_token = current_run.set("workflowRuns/r1"), current_step.set("nlu")
    try:
        entry = json.loads(_log_line("json", attempt=2))
    finally:
        current_run.reset(run_token)
        current_step.reset(step_token)
    assert entry["level"] == "WARNING" and entry["message"] == "about the run"
    assert entry["run_id"] == "workflowRuns/r1" and entry["step_id"] == "nlu"
    assert entry["attempt"] == 2 and entry["time"].endswith("+00:00")
    assert "trace_id" not in entry, "no span, no trace id"


def test_text_lines_are_readable_with_correlation_tags() -> None:
    line = _log_line("text", run_id="workflowRuns/r2")
    assert "WARNING test.telemetry.text: about the run [run=workflowRuns/r2]" in line
    assert "{" not in line


def _event(seq: int, **body: object) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(run="workflowRuns/r", seq=seq, **body)  # type: ignore[arg-type]
    event.time.FromNanoseconds(1_700_000_000_000_000_000 + seq * 10_000_000)
    return event


def test_metrics_follow_the_event_stream() -> None:
    metrics = RunMetrics()
    created = run_pb2.RunCreated(
        workflow_definition="workflowDefinitions/demo",
        steps=[run_pb2.StepRun(step_id="a", method="pkg.Svc/Do")],
    )
    metrics.observe([_event(1, run_created=created), _event(2, run_started=run_pb2.RunStarted())])
    metrics.observe([_event(3, step_started=run_pb2.StepStarted(step_id="a", attempt=1))])
    sample = metrics.registry.get_sample_value
    assert sample("aura_backend_calls_in_flight", {"service": "pkg.Svc"}) == 1
    metrics.observe(
        [
            _event(
                4,
                step_attempt_failed=run_pb2.StepAttemptFailed(
                    step_id="a", attempt=1, error=status_pb2.Status(code=14)
                ),
            ),
            _event(5, step_started=run_pb2.StepStarted(step_id="a", attempt=2)),
            _event(
                6,
                step_succeeded=run_pb2.StepSucceeded(
                    step_id="a", attempt=2, latency=duration_pb2.Duration(nanos=5_000_000)
                ),
            ),
            _event(7, run_finished=run_pb2.RunFinished(state=run_pb2.RUN_STATE_SUCCEEDED)),
        ]
    )
    labels = {"service": "pkg.Svc", "method": "Do"}
    assert sample("aura_runs_started_total", {"definition": "demo"}) == 1
    assert sample("aura_runs_finished_total", {"definition": "demo", "state": "SUCCEEDED"}) == 1
    assert sample("aura_step_retries_total", labels) == 1
    assert sample("aura_step_attempts_total", {**labels, "code": "OK"}) == 1
    assert sample("aura_step_attempts_total", {**labels, "code": "UNAVAILABLE"}) == 1
    assert sample("aura_step_attempt_duration_seconds_count", labels) == 2
    assert sample("aura_step_attempt_duration_seconds_sum", labels) == pytest.approx(
        0.015, abs=1e-5
    )
    assert sample("aura_backend_calls_in_flight", {"service": "pkg.Svc"}) == 0
    assert sample("aura_store_committed_events_total") == 7
