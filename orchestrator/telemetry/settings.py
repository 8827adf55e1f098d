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

DEFAULT_METRICS_PORT = 9464  # the port OpenTelemetry and Prometheus use for exporters
LogFormat = Literal["text", "json"]
_OFF = ("", "off", "none", "false", "no")
_ON = ("1", "true", "on", "yes")


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
        """Reads AURA_METRICS_PORT (default 9464; "off" disables), AURA_METRICS_HOST,
        AURA_LOG_FORMAT (text|json), AURA_LOG_LEVEL, AURA_OTLP_ENDPOINT, AURA_TRACING
        (1|0) and AURA_OTEL_SERVICE_NAME."""
        env = os.environ if env is None else env
        base = cls()
        raw_port = env.get("AURA_METRICS_PORT", str(DEFAULT_METRICS_PORT)).strip().lower()
        metrics_port = None if raw_port in _OFF else int(raw_port)
        log_format = env.get("AURA_LOG_FORMAT", base.log_format).strip().lower()
        if log_format not in ("text", "json"):
            raise ValueError(f"AURA_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
        return cls(
            metrics_port=metrics_port,
            metrics_host=env.get("AURA_METRICS_HOST", base.metrics_host),
            log_format=log_format,  # type: ignore[arg-type]
            log_level=env.get("AURA_LOG_LEVEL", base.log_level).upper(),
            otlp_endpoint=env.get("AURA_OTLP_ENDPOINT", base.otlp_endpoint).strip(),
            tracing=env.get("AURA_TRACING", "").strip().lower() in _ON,
            service_name=env.get("AURA_OTEL_SERVICE_NAME", base.service_name),
        )

    def describe(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
