"""What both peer modules share: the DAG's five backend calls, their command line, the load loop.

Runs in the peers' venv (benchmarks/.venv-peers), so it imports only grpc, protobuf, the
stubs and the stdlib-only parts of `benchmarks` (never the orchestrator package). The requests,
deadlines and async client are `benchmarks.workload`'s, the hand-written limit's own, so every
peer does the backend work the hand-written client does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from aura.combination.v1 import combination_pb2, combination_pb2_grpc
from aura.image.v1 import image_pb2, image_pb2_grpc
from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from aura.recommendation.v1 import recommendation_pb2, recommendation_pb2_grpc
from aura.style.v1 import style_pb2, style_pb2_grpc
from benchmarks.loadgen import closed_loop
from benchmarks.workload import (
    CHANNEL_OPTIONS,
    SERVICES,
    STYLE_INPUT,
    TIMEOUTS,
    image_request,
    nlu_request,
    outfits_request,
    profile_request,
    recommendations_request,
)

# --- result check --------------------------------------------------------------------------


def check_recommendations(response: recommendation_pb2.RecommendItemsResponse) -> int:
    """The run's result, failing as LimitClient does when the pipeline produced nothing."""
    if not response.recommendations:
        raise RuntimeError("the pipeline got no recommendations")
    return len(response.recommendations)


# --- clients -------------------------------------------------------------------------------


class SyncBackends:
    """Blocking stubs (thread-safe), for frameworks that run steps on worker threads."""

    def __init__(self, addresses: dict[str, str]) -> None:
        self._channels = [
            grpc.insecure_channel(addresses[name], options=CHANNEL_OPTIONS) for name in SERVICES
        ]
        image, nlu, style, combination, recommendation = self._channels
        self._image = image_pb2_grpc.ImageProcessingServiceStub(image)
        self._nlu = nlu_pb2_grpc.NluServiceStub(nlu)
        self._style = style_pb2_grpc.StyleProfileServiceStub(style)
        self._combination = combination_pb2_grpc.CombinationEngineServiceStub(combination)
        self._recommendation = recommendation_pb2_grpc.RecommendationEngineServiceStub(
            recommendation
        )

    def image(self, run_input: dict[str, Any]) -> image_pb2.AnalyzeImageResponse:
        return self._image.AnalyzeImage(image_request(run_input), timeout=TIMEOUTS["image"])

    def nlu(self, run_input: dict[str, Any]) -> nlu_pb2.AnalyzeTextResponse:
        return self._nlu.AnalyzeText(nlu_request(run_input), timeout=TIMEOUTS["nlu"])

    def profile(
        self,
        user_id: str,
        image: image_pb2.AnalyzeImageResponse,
        nlu: nlu_pb2.AnalyzeTextResponse,
    ) -> style_pb2.BuildStyleProfileResponse:
        return self._style.BuildStyleProfile(
            profile_request(user_id, image, nlu), timeout=TIMEOUTS["profile"]
        )

    def outfits(
        self, profile: style_pb2.BuildStyleProfileResponse, nlu: nlu_pb2.AnalyzeTextResponse
    ) -> combination_pb2.GenerateOutfitsResponse:
        return self._combination.GenerateOutfits(
            outfits_request(profile, nlu), timeout=TIMEOUTS["outfits"]
        )

    def recommendations(
        self,
        profile: style_pb2.BuildStyleProfileResponse,
        outfits: combination_pb2.GenerateOutfitsResponse,
        nlu: nlu_pb2.AnalyzeTextResponse,
    ) -> recommendation_pb2.RecommendItemsResponse:
        return self._recommendation.RecommendItems(
            recommendations_request(profile, outfits, nlu), timeout=TIMEOUTS["recommendations"]
        )

    def close(self) -> None:
        for channel in self._channels:
            channel.close()


# --- command line and load ------------------------------------------------------------------


def parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog=prog, description=doc)
    result.add_argument("--addresses", required=True, help="JSON: service name -> host:port")
    result.add_argument("--latency-ms", type=float, help="the mesh's backend latency (a label)")
    result.add_argument("--levels", default="1,100", help="comma-separated concurrency levels")
    result.add_argument("--c1-warmup-s", type=float, default=2.0)
    result.add_argument("--c1-duration-s", type=float, default=10.0)
    result.add_argument("--warmup-s", type=float, default=3.0, help="for levels above 1")
    result.add_argument("--duration-s", type=float, default=10.0, help="for levels above 1")
    result.add_argument(
        "--level-cap-s",
        type=float,
        default=120.0,
        help="hard end of one level (warmup + window + drain); runs still going are cut",
    )
    result.add_argument("--out", help="JSON file (default: stdout)")
    return result


def levels_of(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


async def measure_levels(
    run_once: Callable[[], Awaitable[Any]],
    args: argparse.Namespace,
    counters: Callable[[], dict[str, int]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each level in turn, closed loop, in this process: the frameworks are embedded libraries,
    so the latency is the workflow call's own, start to result.

    Every worker starts at once, so until the runs' phases spread out they finish in waves.
    After a first level above 1, a run's latency at the next level is estimated from the
    throughput so far (L = c / runs_per_s) and the level gets warmup >= 1.5 L and a window
    >= L; it is skipped when warmup + window + a last L would not fit in the cap. `counters`
    (framework events worth explaining a number with) are reported as their increase.
    """
    results: dict[str, dict[str, Any]] = {}
    rate: float | None = None  # runs/s at the last level above 1
    for concurrency in levels_of(args.levels):
        if concurrency == 1:
            warmup_s, duration_s, estimate_s = args.c1_warmup_s, args.c1_duration_s, 0.0
        elif rate is None:
            warmup_s, duration_s, estimate_s = args.warmup_s, args.duration_s, 0.0
        else:
            estimate_s = concurrency / rate if rate > 0 else float("inf")
            warmup_s = max(args.warmup_s, 1.5 * estimate_s)
            duration_s = max(args.duration_s, estimate_s)
        cap_s = args.level_cap_s if estimate_s else max(args.level_cap_s, warmup_s + duration_s + 5)
        if warmup_s + duration_s + estimate_s > cap_s:
            results[str(concurrency)] = {
                "concurrency": concurrency,
                "skipped": f"at {rate} runs/s a run would take about {estimate_s:.0f}s: "
                f"warmup, window and drain would not fit in the {cap_s:.0f}s cap",
            }
            continue
        before = counters() if counters else {}
        result = await _level(run_once, concurrency, warmup_s, duration_s, cap_s)
        result["warmup_s"] = round(warmup_s, 1)
        if counters:
            result.update({name: n - before.get(name, 0) for name, n in counters().items()})
        results[str(concurrency)] = result
        if concurrency > 1:
            rate = result["runs_per_s"]
    return results


async def _level(
    run_once: Callable[[], Awaitable[Any]],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    cap_s: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + cap_s
    cut = 0

    async def capped() -> Any:
        nonlocal cut
        try:
            return await asyncio.wait_for(run_once(), max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            if time.monotonic() >= deadline:
                cut += 1
            raise

    async def cpu_at(delay_s: float) -> tuple[float, float]:
        await asyncio.sleep(delay_s)
        return time.perf_counter(), tree_cpu_s()

    wall_before = time.perf_counter()
    window_marks = [asyncio.create_task(cpu_at(d)) for d in (warmup_s, warmup_s + duration_s)]
    result = await closed_loop(
        capped, concurrency=concurrency, duration_s=duration_s, warmup_s=warmup_s
    )
    wall = time.perf_counter() - wall_before
    (t0, cpu0), (t1, cpu1) = await asyncio.gather(*window_marks)
    # CPU over the measured window (scaled if a busy loop sampled late), so neither warmup
    # nor the drain of runs still in flight at its end is charged to the window's runs.
    window_cpu = (cpu1 - cpu0) * duration_s / (t1 - t0) if t1 > t0 else 0.0
    latencies = result.latencies_s
    return {
        "concurrency": concurrency,
        "completed": result.completed,
        "errors": result.errors,
        "first_error": result.first_error,
        "window_s": round(result.duration_s, 3),
        "runs_per_s": round(result.runs_per_s, 1),
        "p50_ms": _round(result.p(50)),
        "p99_ms": _round(result.p(99)),
        "mean_ms": _round(statistics.fmean(latencies) * 1000) if latencies else None,
        # Below `concurrency` completions the window saw only the first wave, the fastest runs:
        # latencies are then biased low and runs/s is rough (a longer warmup fixes it).
        "steady": result.completed >= concurrency,
        "cut_at_cap": cut,
        "level_wall_s": round(wall, 2),
        # This process and its children (Prefect's local API server among them).
        "cores_busy": round(window_cpu / duration_s, 2),
        "cpu_ms_per_run": round(window_cpu * 1000 / result.completed, 2)
        if result.completed
        else None,
    }


def tree_cpu_s() -> float:
    """CPU seconds of this process and its live descendants (Linux /proc; else this one)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending, seen = [os.getpid()], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError, IndexError):
            if pid == os.getpid():
                return time.process_time()
    return total


def write_result(args: argparse.Namespace, result: dict[str, Any]) -> None:
    result.setdefault("python", platform.python_version())
    result.setdefault("backend_latency_ms", args.latency_ms)
    result.setdefault("peak_rss_mib", _peak_rss_mib())
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


def default_input() -> dict[str, Any]:
    return dict(STYLE_INPUT)


def _peak_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
