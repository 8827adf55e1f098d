"""Fixtures for telemetry tests: spans collected in memory (no exporter, no network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.telemetry import TelemetrySettings, configure_tracing, uninstrument_grpc

EXPORTER = InMemorySpanExporter()
_exporter_added = False


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into EXPORTER (cleared); gRPC traced for the test's servers and channels."""
    global _exporter_added
    monkeypatch.setenv("AURA_TRACING", "1")  # the mock services read it
    configure_tracing(
        TelemetrySettings(tracing=True), exporter=None if _exporter_added else EXPORTER
    )
    _exporter_added = True
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        uninstrument_grpc()
