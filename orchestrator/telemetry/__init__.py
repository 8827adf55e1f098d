"""Observability: Prometheus metrics, JSON logs with correlation ids, OpenTelemetry tracing."""

from orchestrator.telemetry.logs import (
    CorrelationFilter,
    JsonFormatter,
    RunEventLog,
    TextFormatter,
    configure_logging,
    log_handler,
)
from orchestrator.telemetry.metrics import MetricsEndpoint, RunMetrics
from orchestrator.telemetry.settings import (
    DEFAULT_METRICS_PORT,
    TELEMETRY_VARIABLES,
    TelemetrySettings,
)
from orchestrator.telemetry.tracing import (
    configure_tracing,
    grpc_client_interceptors,
    grpc_server_interceptors,
    instrument_grpc,
    record_attempt_failure,
    run_scope,
    run_span,
    shutdown_tracing,
    step_attempt_span,
    tracing_on,
    uninstrument_grpc,
)

__all__ = [
    "DEFAULT_METRICS_PORT",
    "TELEMETRY_VARIABLES",
    "CorrelationFilter",
    "JsonFormatter",
    "MetricsEndpoint",
    "RunEventLog",
    "RunMetrics",
    "TelemetrySettings",
    "TextFormatter",
    "configure_logging",
    "configure_tracing",
    "grpc_client_interceptors",
    "grpc_server_interceptors",
    "instrument_grpc",
    "log_handler",
    "record_attempt_failure",
    "run_scope",
    "run_span",
    "shutdown_tracing",
    "step_attempt_span",
    "tracing_on",
    "uninstrument_grpc",
]
