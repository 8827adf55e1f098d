"""Fixtures for telemetry tests: spans collected in memory (no exporter, no network)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.telemetry import TelemetrySettings, configure_tracing, uninstrument_grpc

EXPORTER = InMemorySpanExporter()
_exporter_added = False


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, into EXPORTER (cleared); gRPC instrumented for the test's servers."""
    global _exporter_added
    configure_tracing(
        TelemetrySettings(tracing=True), exporter=None if _exporter_added else EXPORTER
    )
    _exporter_added = True
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        uninstrument_grpc()
