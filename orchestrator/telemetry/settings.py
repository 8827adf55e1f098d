"""Telemetry settings: metrics endpoint, log format and level, tracing export; from `AURA_*`.

The bare dataclass (what tests and embedded use get) serves no metrics port and exports
no spans; `from_env` is what `aura serve` uses, with the metrics endpoint on 9464 unless
`AURA_METRICS_PORT=off`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from orchestrator.envvars import FLAG, TEXT, EnvVar, choice, port_or_off, read

DEFAULT_METRICS_PORT = 9464  # the port OpenTelemetry and Prometheus use for exporters
LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class TelemetrySettings:
    # Prometheus /metrics over HTTP: None = no endpoint, 0 = any free port (tests).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # "text": one human-readable line per record (a terminal); "json": one object per line.
    log_format: LogFormat = "text"
    log_level: str = "INFO"
    # OTLP/gRPC collector, e.g. "http://otel-collector:4317"; "" = spans are not exported.
    otlp_endpoint: str = ""
    # Spans are made (and propagated to the services) when tracing is on; it is on by
    # itself when an OTLP endpoint is set.
    tracing: bool = False
    # `service.name` resource attribute of this process's spans.
    service_name: str = "aura-orchestrator"

    @property
    def tracing_enabled(self) -> bool:
        return self.tracing or bool(self.otlp_endpoint)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TelemetrySettings:
        """The settings of TELEMETRY_VARIABLES, with the metrics endpoint on 9464 unless
        AURA_METRICS_PORT=off; SettingsError names each bad variable."""
        env = os.environ if env is None else env
        return read(cls(metrics_port=DEFAULT_METRICS_PORT), TELEMETRY_VARIABLES, env)

    def describe(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# Relative to TelemetrySettings; orchestrator.config nests them under `telemetry`.
TELEMETRY_VARIABLES: tuple[EnvVar, ...] = (
    EnvVar("AURA_METRICS_PORT", ("metrics_port",), port_or_off(), "Prometheus `/metrics` port"),
    EnvVar("AURA_METRICS_HOST", ("metrics_host",), TEXT, "interface of the metrics endpoint"),
    EnvVar(
        "AURA_LOG_FORMAT",
        ("log_format",),
        choice("text", "json"),
        "`text`: a line per record; `json`: an object per line",
    ),
    EnvVar(
        "AURA_LOG_LEVEL",
        ("log_level",),
        choice("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", upper=True),
        "log level",
    ),
    EnvVar(
        "AURA_OTLP_ENDPOINT",
        ("otlp_endpoint",),
        TEXT,
        "OTLP/gRPC collector for spans, e.g. `http://otel-collector:4317` (turns tracing on)",
    ),
    EnvVar("AURA_TRACING", ("tracing",), FLAG, "make spans even without an OTLP endpoint"),
    EnvVar(
        "AURA_OTEL_SERVICE_NAME", ("service_name",), TEXT, "`service.name` of this process's spans"
    ),
)
