"""Logs: JSON lines for machines, one readable line for a terminal; correlation ids on both.

Every record gets `run_id`, `step_id`, `trace_id` and `span_id` when it is about a run:
from `extra={"run_id": ...}`, else from the task's context (set by `run_span` /
`step_attempt_span`), and the trace ids from the current span or the run's span.
`RunEventLog` is a store commit listener that writes one line per committed run event,
so a run's whole life is in the log without the engine logging anything itself.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.rpc import code_pb2
from opentelemetry import trace

from aura.orchestrator.v1 import run_pb2
from orchestrator.telemetry.settings import TelemetrySettings
from orchestrator.telemetry.tracing import (
    current_run,
    current_step,
    run_span_context,
    run_trace_id,
)

CORRELATION_FIELDS = ("run_id", "step_id", "trace_id", "span_id")
# LogRecord attributes that are not `extra` fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class CorrelationFilter(logging.Filter):
    """Stamps run, step, trace and span ids on a record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        run = getattr(record, "run_id", None) or current_run.get()
        record.run_id = run
        record.step_id = getattr(record, "step_id", None) or current_step.get()
        if not getattr(record, "trace_id", None):
            context = trace.get_current_span().get_span_context()
            if not context.is_valid and run:
                context = run_span_context(run) or context
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
                record.span_id = format(context.span_id, "016x")
            else:
                record.trace_id = record.span_id = ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CORRELATION_FIELDS:
            value = getattr(record, key, "")
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and key not in CORRELATION_FIELDS:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [run=.. step=.. trace=..]` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [
            f"{name}={value}"
            for name, key in (("run", "run_id"), ("step", "step_id"), ("trace", "trace_id"))
            if (value := getattr(record, key, ""))
        ]
        return f"{line} [{' '.join(tags)}]" if tags else line


def log_handler(settings: TelemetrySettings, stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) in the configured format, with correlation ids."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(CorrelationFilter())
    return handler


def configure_logging(settings: TelemetrySettings, stream: Any = None) -> logging.Handler:
    """Replaces the root logger's handlers with one in the configured format and level."""
    handler = log_handler(settings, stream)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler


class RunEventLog:
    """Commit listener: one log line per committed run event (`aura.runs` logger).

    Run created / resumed / finished at INFO, failed attempts and steps at WARNING,
    the rest (scheduled, started, succeeded, skipped, cancelled) at DEBUG.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("aura.runs")

    def observe(self, events: Sequence[run_pb2.RunEvent]) -> None:
        for event in events:
            kind = event.WhichOneof("event")
            level = _LEVELS.get(kind or "", logging.DEBUG)
            if not self.log.isEnabledFor(level):
                continue
            body = getattr(event, kind) if kind else None
            step_id = getattr(body, "step_id", "")
            extra: dict[str, Any] = {
                "run_id": event.run,
                "step_id": step_id,
                "event": kind,
                "seq": event.seq,
            }
            context = run_span_context(event.run)
            if context is not None:
                extra["trace_id"] = format(context.trace_id, "032x")
                extra["span_id"] = format(context.span_id, "016x")
            elif trace_id := run_trace_id(event.run):
                extra["trace_id"] = format(trace_id, "032x")  # before the run span starts
            self.log.log(level, "%s %s%s", event.run, kind, _detail(event, kind), extra=extra)


_LEVELS = {
    "run_created": logging.INFO,
    "run_resumed": logging.INFO,
    "run_finished": logging.INFO,
    "step_attempt_failed": logging.WARNING,
    "step_failed": logging.WARNING,
}


def _detail(event: run_pb2.RunEvent, kind: str | None) -> str:
    if kind == "run_created":
        return f" definition={event.run_created.workflow_definition}"
    if kind == "run_finished":
        finished = event.run_finished
        state = run_pb2.RunState.Name(finished.state)
        return f" state={state}" + (
            f" error={finished.error.message!r}" if finished.error.code else ""
        )
    if kind in ("step_attempt_failed", "step_failed"):
        body = getattr(event, kind)
        return (
            f" step={body.step_id} attempt={body.attempt} "
            f"code={_code(body.error.code)} error={body.error.message!r}"
        )
    if kind and kind.startswith("step_"):
        body = getattr(event, kind)
        attempt = getattr(body, "attempt", 0)
        return f" step={body.step_id}" + (f" attempt={attempt}" if attempt else "")
    return ""


def _code(code: int) -> str:
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return str(code)
