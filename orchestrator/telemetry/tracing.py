"""OpenTelemetry tracing: provider and exporters, gRPC instrumentation, run and step spans.

Shape of a run's trace:

    run <definition>                 (root; kind INTERNAL; one per run execution)
      └ step <step id> #<attempt>    (one per backend call attempt; kind INTERNAL)
          └ <Service>/<Method>       (gRPC client span, from the instrumentation)
              └ <Service>/<Method>   (the service's server span, context from metadata)

A run outlives the StartWorkflowRun call that creates it, so the run span is not a
child of that RPC's server span: it is the root of the run's own trace (one trace per
run) and carries a *link* to the span that was current when it was launched (the
Start/Execute/Stream RPC). The RPC span gets the run's trace id as the attribute
`aura.run.trace_id`, so either can be found from the other.

The trace id *is* the run id (run ids are random 128-bit hex, like trace ids), so
a trace is found from a run name alone, log lines written before the run span exists
(run_created) carry it too, and a run resumed after a restart continues the same trace
with a second root span (attribute `aura.run.resumed`), no stored context needed. Run
and step spans are made under our tracer provider only (`configure_tracing`): with
tracing off, the engine's hot path makes no OpenTelemetry call at all.

gRPC is traced by interceptors passed where servers and channels are made
(`grpc_server_interceptors`, `grpc_client_interceptors`; nothing is patched), so
`configure_tracing` comes first, then servers and channels. Health checks and reflection
are not traced. Our spans are made by our provider even when another one is global.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from orchestrator.telemetry.settings import TelemetrySettings

log = logging.getLogger(__name__)

TRACER_NAME = "aura.orchestrator"

# What log records of the current task are about (read by the log formatter).
current_run: ContextVar[str] = ContextVar("aura_run", default="")
current_step: ContextVar[str] = ContextVar("aura_step", default="")

# The trace id the next root span takes (set around a run span's start).
_next_trace_id: ContextVar[int] = ContextVar("aura_next_trace_id", default=0)
RUN_PREFIX = "workflowRuns/"


class RunTraceIds(IdGenerator):
    """Random ids, except a run span's trace id, which is its run id."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        return _next_trace_id.get() or self._random.generate_trace_id()


def run_trace_id(run: str) -> int:
    """The trace id of a run (0 when its id is not 32 hex digits or tracing is off)."""
    if _provider is None:
        return 0
    try:
        value = int(run.removeprefix(RUN_PREFIX), 16)
    except ValueError:
        return 0
    return value if len(run.removeprefix(RUN_PREFIX)) == 32 else 0


_provider: TracerProvider | None = None
# The provider's tracer, made once: the SDK builds a new Tracer on every get_tracer call.
_provider_tracer: trace.Tracer | None = None
_grpc_traced = False
# Run name -> its run span's context, so log lines written outside the run's task
# (the event log, written by the commit listener) carry the run's trace id.
_run_spans: dict[str, trace.SpanContext] = {}


def configure_tracing(
    settings: TelemetrySettings, *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Sets up the process's tracer provider (once) and instruments gRPC.

    Does nothing when tracing is off and no `exporter` is given. `exporter` (e.g. an
    in-memory one in tests) is added with a synchronous processor; the OTLP exporter
    (when `settings.otlp_endpoint` is set) is batched. Call again to add exporters.
    """
    global _provider, _provider_tracer
    if not settings.tracing_enabled and exporter is None:
        return None
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": settings.service_name}),
            id_generator=RunTraceIds(),
        )
        _provider_tracer = _provider.get_tracer(TRACER_NAME)
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(_provider)  # also for spans of other libraries
        if settings.otlp_endpoint:
            _provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_grpc()
    return _provider


def _otlp_exporter(settings: TelemetrySettings) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    insecure = settings.otlp_endpoint.startswith("http://")
    exporter: SpanExporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=insecure)
    log.info("exporting spans over OTLP to %s", settings.otlp_endpoint)
    return exporter


def _grpc_filter() -> Any:
    from opentelemetry.instrumentation.grpc import filters

    # Health Watch streams live as long as the process, reflection is tooling: not traced.
    return filters.negate(
        filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection"))
    )


def instrument_grpc() -> None:
    """gRPC servers and channels made from now on are traced (`configure_tracing` calls it)."""
    global _grpc_traced
    _grpc_traced = _provider is not None


def uninstrument_grpc() -> None:
    """gRPC servers and channels made from now on are not traced (tests)."""
    global _grpc_traced
    _grpc_traced = False


def grpc_server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """For `grpc.aio.server(interceptors=...)`: opentelemetry-instrumentation-grpc's server
    interceptor (a span per call, continuing the caller's trace); none with tracing off."""
    if not _grpc_traced or _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider=_provider, filter_=_grpc_filter()
    )
    return [interceptor]


def grpc_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """For `grpc.aio.insecure_channel(interceptors=...)`: our unary client interceptor (see
    grpc_client.py for why not the library's); none with tracing off."""
    if not _grpc_traced or _provider is None:
        return []
    from orchestrator.telemetry.grpc_client import TracingUnaryClientInterceptor

    return [TracingUnaryClientInterceptor(_provider.get_tracer("aura.grpc.client"))]


def shutdown_tracing() -> None:
    """Flushes batched spans (at process exit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)


def _tracer() -> trace.Tracer:
    if _provider_tracer is not None:
        return _provider_tracer
    return trace.get_tracer(TRACER_NAME)


def run_span_context(run: str) -> trace.SpanContext | None:
    """The span context of a run executing in this process, if it is traced."""
    return _run_spans.get(run)


@contextlib.contextmanager
def run_span(run: str, definition: str, *, resumed: bool = False) -> Iterator[trace.Span]:
    """The root span of one run execution; current for the run's task and its steps."""
    launcher = trace.get_current_span()
    links = [Link(launcher.get_span_context())] if launcher.get_span_context().is_valid else []
    trace_token = _next_trace_id.set(run_trace_id(run))
    try:
        span = _tracer().start_span(
            f"run {definition.removeprefix('workflowDefinitions/')}",
            context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root, see above
            kind=SpanKind.INTERNAL,
            links=links,
            attributes={
                "aura.run.name": run,
                "aura.workflow.definition": definition,
                "aura.run.resumed": resumed,
            },
        )
    finally:
        _next_trace_id.reset(trace_token)
    context = span.get_span_context()
    if context.is_valid:
        _run_spans[run] = context
        if launcher.is_recording():
            launcher.set_attribute("aura.run.trace_id", format(context.trace_id, "032x"))
    run_token = current_run.set(run)
    try:
        with trace.use_span(span, end_on_exit=True, record_exception=False):
            try:
                yield span
            except BaseException as error:
                span.set_attribute("aura.run.interrupted", type(error).__name__)
                raise
    finally:
        current_run.reset(run_token)
        _run_spans.pop(run, None)


def tracing_on() -> bool:
    """Whether run and step spans are made (`configure_tracing` installed our provider)."""
    return _provider is not None


def run_scope(
    run: str, definition: str, *, resumed: bool = False
) -> contextlib.AbstractContextManager[object]:
    """For the run's own task: its root span when tracing is on, else only its log context
    (no OpenTelemetry call on the hot path). A `with`, not a wrapping coroutine, so the
    run's task awaits through one frame less at every step."""
    if _provider is None:
        current_run.set(run)  # the run's own task: its context is its own
        return contextlib.nullcontext()
    return run_span(run, definition, resumed=resumed)


@contextlib.contextmanager
def step_attempt_span(run_id: str, step_id: str, attempt: int, method: str) -> Iterator[trace.Span]:
    """One backend call attempt of a step; the gRPC client span becomes its child.

    Records the outcome: a raised error's gRPC code (`status.code` of a backend error)
    as `rpc.grpc.status_code` and an ERROR status; a cancelled call as `aura.cancelled`.
    """
    step_token = current_step.set(step_id)
    service, _, rpc_method = method.partition("/")
    try:
        with _tracer().start_as_current_span(
            f"step {step_id} #{attempt}",
            kind=SpanKind.INTERNAL,
            attributes={
                "aura.run.id": run_id,
                "aura.step.id": step_id,
                "aura.step.attempt": attempt,
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": rpc_method,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as error:
                _record_failure(span, error)
                raise
            else:
                if span.is_recording() and "rpc.grpc.status_code" not in getattr(
                    span, "attributes", {}
                ):
                    span.set_attribute("rpc.grpc.status_code", 0)
    finally:
        current_step.reset(step_token)


def record_attempt_failure(span: trace.Span, status: Any) -> None:
    """Marks an attempt span failed from a `google.rpc.Status` the call returned (not raised)."""
    span.set_attribute("rpc.grpc.status_code", int(status.code))
    span.set_status(Status(StatusCode.ERROR, str(status.message)))


def _record_failure(span: trace.Span, error: BaseException) -> None:
    import asyncio

    if isinstance(error, asyncio.CancelledError):
        span.set_attribute("aura.cancelled", True)
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
        return
    status = getattr(error, "status", None)
    code = getattr(status, "code", None)
    if isinstance(code, int):
        span.set_attribute("rpc.grpc.status_code", code)
    message = getattr(status, "message", None) or str(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {message}"))
