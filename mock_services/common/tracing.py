"""Tracing for the mock services: a server span per call, continuing the caller's trace.

The mocks stand for backends of their own, so they set OpenTelemetry up themselves
rather than through the orchestrator's telemetry package. With AURA_TRACING=1 or
AURA_OTLP_ENDPOINT set, their servers get opentelemetry-instrumentation-grpc's server
interceptor. Its spans go to the process's tracer provider: the one already installed
(e.g. by an orchestrator in the same process, or a test), otherwise one made here,
named AURA_OTEL_SERVICE_NAME (default aura-mock-services), exporting over OTLP when
AURA_OTLP_ENDPOINT is set. Health checks and reflection are not traced.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import grpc
from opentelemetry import trace

log = logging.getLogger(__name__)

TRACING_SERVICE_NAME = "aura-mock-services"
_TRUE = frozenset({"1", "true", "yes", "on"})


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for spans (AURA_TRACING=1 or an OTLP endpoint)."""
    env = os.environ if env is None else env
    return env.get("AURA_TRACING", "").strip().lower() in _TRUE or bool(
        env.get("AURA_OTLP_ENDPOINT", "").strip()
    )


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """For a mock's `grpc.aio.server(interceptors=...)`: the tracing interceptor when the
    environment asks for spans (installing a tracer provider if none is), else none."""
    if not tracing_requested():
        return []
    _ensure_provider()
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    untraced = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection"))
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        filter_=filters.negate(untraced)
    )
    return [interceptor]


def _ensure_provider() -> None:
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return  # someone in this process set tracing up already: its spans go there
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("AURA_OTEL_SERVICE_NAME", "").strip() or TRACING_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    endpoint = os.environ.get("AURA_OTLP_ENDPOINT", "").strip()
    if endpoint:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(endpoint)))
    trace.set_tracer_provider(provider)


def _otlp_exporter(endpoint: str) -> Any:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    log.info("mock services export spans over OTLP to %s", endpoint)
    return OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
