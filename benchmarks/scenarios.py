"""The scenarios. Each returns a plain dict that goes into the JSON file as it is."""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from aura.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc, run_pb2
from benchmarks.loadgen import LoadResult, closed_loop, percentile
from benchmarks.procs import Child
from benchmarks.workload import (
    CHANNEL_OPTIONS,
    DEFINITION,
    STYLE_INPUT,
    LimitClient,
    OrchestratedClient,
    step_times,
    struct,
)


@dataclass(frozen=True)
class Plan:
    """How long and how hard; `FULL` is the real benchmark, `SMOKE` the seconds-long check."""

    name: str
    latency_ms: float = 20.0
    c1_warmup_s: float = 2.0
    c1_duration_s: float = 10.0
    c1_rounds: int = 5  # alternating c=1 rounds where two orchestrators are compared
    c1_slow_duration_s: float = 20.0
    levels: tuple[int, ...] = (100, 1000)
    warmup_s: float = 3.0
    duration_s: float = 10.0
    scale_runs: int = 10_000
    scale_latency_ms: float = 30_000.0
    scale_start_concurrency: int = 1000
    scale_channels: int = 16


FULL = Plan("full")
SMOKE = Plan(
    "smoke",
    c1_warmup_s=0.2,
    c1_duration_s=0.8,
    c1_rounds=1,
    c1_slow_duration_s=0.8,
    levels=(10, 20),
    warmup_s=0.3,
    duration_s=1.0,
    scale_runs=40,
    scale_latency_ms=200.0,
    scale_start_concurrency=20,
    scale_channels=2,
)


@dataclass
class CpuMeter:
    """CPU seconds each process (children and this one) spent between start() and stop()."""

    children: list[Child]
    used_s: dict[str, float] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0

    def _now(self) -> dict[str, float]:
        now = {"loadgen": time.process_time()}
        for child in self.children:
            cpu = child.stats().cpu_s
            if cpu is not None:
                now[child.name] = cpu
        return now

    def start(self) -> None:
        self._start = self._now()
        self._wall = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        end = self._now()
        wall = time.perf_counter() - self._wall
        used = {
            name: round(end[name] - self._start[name], 3) for name in end if name in self._start
        }
        return {
            "wall_s": round(wall, 3),
            "cpu_s": used,
            "cores_busy": round(sum(used.values()) / wall, 2) if wall else None,
        }


def load_summary(result: LoadResult) -> dict[str, Any]:
    return {
        "concurrency": result.concurrency,
        "completed": result.completed,
        "errors": result.errors,
        "first_error": result.first_error,
        "window_s": round(result.duration_s, 3),
        "runs_per_s": round(result.runs_per_s, 1),
        "p50_ms": _round(result.p(50)),
        "p99_ms": _round(result.p(99)),
        "mean_ms": _round(statistics.fmean(result.latencies_s) * 1000)
        if result.latencies_s
        else None,
    }


async def measure(
    call: Callable[[], Awaitable[Any]],
    meter: CpuMeter,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    keep_results: bool = False,
) -> tuple[dict[str, Any], LoadResult]:
    meter.start()
    result = await closed_loop(
        call,
        concurrency=concurrency,
        duration_s=duration_s,
        warmup_s=warmup_s,
        keep_results=keep_results,
    )
    summary = load_summary(result)
    cpu = meter.stop()
    summary["cpu"] = cpu
    for name, seconds in cpu["cpu_s"].items():
        if result.completed:
            summary.setdefault("cpu_ms_per_run", {})[name] = round(
                seconds * 1000 / result.completed / ((warmup_s + duration_s) / duration_s), 3
            )
    return summary, result


async def limit_load(addresses: dict[str, str], meter: CpuMeter, **kwargs: Any) -> dict[str, Any]:
    client = LimitClient(addresses)
    try:
        summary, _ = await measure(client.run, meter, **kwargs)
    finally:
        await client.close()
    return summary


async def orchestrated_load(
    address: str,
    meter: CpuMeter,
    *,
    speedup: bool = False,
    credentials: grpc.ChannelCredentials | None = None,
    token: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    channels = max(1, min(8, kwargs["concurrency"] // 100))
    client = OrchestratedClient(address, channels=channels, credentials=credentials, token=token)
    try:
        summary, result = await measure(client.run, meter, keep_results=speedup, **kwargs)
    finally:
        await client.close()
    if speedup:
        summary["speedup"] = parallel_speedup(result)
    return summary


def parallel_speedup(result: LoadResult) -> dict[str, Any]:
    """Measured vs ideal speedup of the workflow's parallelism, per run, medians.

    sequential = sum of the five step durations; ideal = sequential / critical path;
    measured = sequential / the client's end-to-end latency (orchestration overhead included).
    """
    ideal, measured, in_engine = [], [], []
    for run, latency in zip(result.results, result.latencies_s, strict=True):
        times = step_times(run)
        sequential = times.sequential_sum_s()
        ideal.append(sequential / times.critical_path_s())
        measured.append(sequential / latency)
        in_engine.append(sequential / times.run_s)
    if not ideal:
        return {}
    ideal_m, measured_m = statistics.median(ideal), statistics.median(measured)
    return {
        "runs": len(ideal),
        "ideal": round(ideal_m, 3),
        "measured_end_to_end": round(measured_m, 3),
        "measured_in_engine": round(statistics.median(in_engine), 3),
        "efficiency": round(measured_m / ideal_m, 3),
        "efficiency_in_engine": round(statistics.median(in_engine) / ideal_m, 3),
    }


async def scale(
    address: str, orchestrator: Child, plan: Plan, metrics_port: int | None = None
) -> dict[str, Any]:
    """`runs` runs started as fast as the orchestrator takes them, each watched to the end.

    A watch stream opens as soon as its run is started, so every stream is on a live run
    unless the run already finished. Event delivery lag = receive time - the event's own
    time (stamped by the engine when it emits the event, before the commit), counted for
    events emitted after the stream opened (live delivery, not history replay).
    """
    channels = [
        grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        for _ in range(plan.scale_channels)
    ]
    stubs = [orchestrator_pb2_grpc.OrchestratorServiceStub(c) for c in channels]
    definition = await _patient_definition(stubs[0], plan.scale_latency_ms)
    request = orchestrator_pb2.StartWorkflowRunRequest(
        workflow_definition=definition, input=struct(STYLE_INPUT)
    )
    gate = asyncio.Semaphore(plan.scale_start_concurrency)
    errors: Counter[str] = Counter()
    states: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    lags_ns: list[int] = []
    first_answers_ns: list[int] = []
    intervals: list[tuple[int, int]] = []
    streams = {"open": 0, "peak": 0, "on_live_runs": 0}
    rss_samples: list[float] = []
    marks = {"last_started": 0.0, "last_finished": 0.0}
    backend_calls = {"peak": 0}

    async def one(index: int) -> None:
        stub = stubs[index % len(stubs)]
        async with gate:
            try:
                response = await stub.StartWorkflowRun(request, timeout=300)
            except grpc.aio.AioRpcError as error:
                errors[f"start {error.code().name}"] += 1
                return
        marks["last_started"] = time.perf_counter()
        name = response.workflow_run.name
        opened = time.time_ns()
        streams["open"] += 1
        streams["peak"] = max(streams["peak"], streams["open"])
        created = finished = 0
        first_ns: int | None = None
        try:
            call = stub.WatchWorkflowRun(
                orchestrator_pb2.WatchWorkflowRunRequest(name=name), timeout=600
            )
            async for item in call:
                received = time.time_ns()
                if first_ns is None:
                    # Its first answer (history): how long the stream took to be served.
                    first_ns = received - opened
                    first_answers_ns.append(first_ns)
                event = item.event
                emitted = event.time.ToNanoseconds()
                if emitted >= opened:
                    lags_ns.append(received - emitted)
                kind = event.WhichOneof("event")
                if kind == "run_created":
                    created = emitted
                elif kind == "run_finished":
                    finished = emitted
                    states[run_pb2.RunState.Name(event.run_finished.state)] += 1
                    if event.run_finished.HasField("error"):
                        failures[event.run_finished.error.message[:200]] += 1
        except grpc.aio.AioRpcError as error:
            errors[f"watch {error.code().name}"] += 1
        finally:
            streams["open"] -= 1
        if not finished:
            errors["watch ended before run_finished"] += 1
            return
        marks["last_finished"] = time.perf_counter()
        if finished > opened:
            streams["on_live_runs"] += 1
        intervals.append((created, finished))

    async def sample_rss() -> None:
        while True:
            rss = orchestrator.stats().rss_mib
            if rss is not None:
                rss_samples.append(rss)
            await asyncio.sleep(0.25)

    async def sample_backend_calls() -> None:
        # The orchestrator's own gauge, four times a second: the calls it holds at the peak.
        if metrics_port is None:
            return
        while True:
            in_flight = await asyncio.to_thread(_backend_calls_in_flight, metrics_port)
            backend_calls["peak"] = max(backend_calls["peak"], in_flight)
            await asyncio.sleep(0.25)

    loop_lags_ns: list[int] = []

    async def sample_loop_lag() -> None:
        # How late this process's own loop wakes: a receive time is late by as much.
        while True:
            due = time.perf_counter_ns() + 50_000_000
            await asyncio.sleep(0.05)
            loop_lags_ns.append(time.perf_counter_ns() - due)

    sampler = asyncio.create_task(sample_rss())
    loop_sampler = asyncio.create_task(sample_loop_lag())
    calls_sampler = asyncio.create_task(sample_backend_calls())
    before = orchestrator.stats()
    begin = time.perf_counter()
    tasks = [asyncio.create_task(one(i)) for i in range(plan.scale_runs)]

    await asyncio.gather(*tasks)
    total = time.perf_counter() - begin
    sampler.cancel()
    loop_sampler.cancel()
    calls_sampler.cancel()
    after = orchestrator.stats()
    for channel in channels:
        await channel.close()
    not_ok = sum(n for state, n in states.items() if state != "RUN_STATE_SUCCEEDED")
    return {
        "runs": plan.scale_runs,
        "backend_latency_ms": plan.scale_latency_ms,
        "orchestrator_env": {
            "AURA_MAX_ACTIVE_RUNS": 2 * plan.scale_runs,
            "AURA_MAX_IN_FLIGHT_PER_SERVICE": 2 * plan.scale_runs,
        },
        "errors": sum(errors.values()) + not_ok,
        "error_kinds": dict(errors),
        "final_states": dict(states),
        "run_failures": dict(failures.most_common(5)),
        "peak_runs_in_flight": _peak_overlap(intervals),
        "peak_watch_streams": streams["peak"],
        "peak_backend_calls_in_flight": backend_calls["peak"],
        "watch_streams_on_live_runs": streams["on_live_runs"],
        "total_s": round(total, 2),
        "start_all_s": _round(marks["last_started"] - begin if marks["last_started"] else None),
        "drain_s": _round(
            marks["last_finished"] - marks["last_started"] if marks["last_finished"] else None
        ),
        "event_lag_p50_ms": _round_ns(percentile(lags_ns, 50)),
        "event_lag_p99_ms": _round_ns(percentile(lags_ns, 99)),
        "events_delivered_live": len(lags_ns),
        # Open to first answer of a watch stream: while starts keep the server busy, a
        # new stream waits in gRPC's accept queue, and an event emitted meanwhile is late
        # by as much.
        "watch_first_answer_p50_ms": _round_ns(percentile(first_answers_ns, 50)),
        "watch_first_answer_p99_ms": _round_ns(percentile(first_answers_ns, 99)),
        "loadgen_loop_lag_p50_ms": _round_ns(percentile(loop_lags_ns, 50)),
        "loadgen_loop_lag_p99_ms": _round_ns(percentile(loop_lags_ns, 99)),
        "loadgen_loop_lag_max_ms": _round_ns(max(loop_lags_ns, default=None)),
        "orchestrator_peak_rss_mib": _round(after.peak_rss_mib),
        "orchestrator_rss_before_mib": _round(before.rss_mib),
        "orchestrator_cpu_s": _round(
            None if after.cpu_s is None or before.cpu_s is None else after.cpu_s - before.cpu_s
        ),
    }


SCALE_DEFINITION = "bench_scale_style_analysis"


def _backend_calls_in_flight(metrics_port: int) -> int:
    """The sum of `aura_backend_calls_in_flight` over services; 0 when it cannot be read."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0
    total = 0.0
    for line in text.splitlines():
        if line.startswith("aura_backend_calls_in_flight{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


async def _patient_definition(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub, latency_ms: float
) -> str:
    """complete_style_analysis with timeouts long enough for slow backends and a queue.

    Same steps, wiring and retry policies; each step may take up to 50 backend latencies
    (at least 60 s) and the run up to an hour, so the scale run measures the orchestrator
    holding 10,000 runs rather than the definition's 3 s step timeouts.
    """
    response = await stub.GetWorkflowDefinition(
        orchestrator_pb2.GetWorkflowDefinitionRequest(name=DEFINITION), timeout=30
    )
    definition = response.workflow_definition
    definition.name = f"workflowDefinitions/{SCALE_DEFINITION}"
    definition.timeout.FromSeconds(3600)
    step_s = max(60, int(latency_ms * 50 / 1000))
    for step in definition.steps:
        step.timeout.FromSeconds(step_s)
    await stub.CreateWorkflowDefinition(
        orchestrator_pb2.CreateWorkflowDefinitionRequest(workflow_definition=definition),
        timeout=30,
    )
    return SCALE_DEFINITION


def _peak_overlap(intervals: list[tuple[int, int]]) -> int:
    edges = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    edges.sort(key=lambda edge: (edge[0], edge[1]))
    peak = current = 0
    for _, delta in edges:
        current += delta
        peak = max(peak, current)
    return peak


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _round_ns(value: float | None) -> float | None:
    return None if value is None else round(value / 1e6, 2)
