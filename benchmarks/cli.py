"""`python -m benchmarks [--smoke] [--only ...] [--out FILE]`.

Per backend latency the mesh (`benchmarks.mesh_server`) and a fresh orchestrator
(`python -m orchestrator.cli serve`, durable SQLite in a temporary directory) run as
their own processes; this process is the load generator. On 2 cores the three share them.
For the latency and throughput levels the grpc.aio floor (`benchmarks.floor_server`: the
five calls by hand behind one grpc.aio server) runs next to them and is measured after the
orchestrator, never at the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.call_memory import grpc_call_floor
from benchmarks.peers.run import run_peers
from benchmarks.procs import ROOT, Child, Floor, start_floor, start_mesh, start_orchestrator
from benchmarks.scenarios import FULL, SMOKE, CpuMeter, Plan, limit_load, orchestrated_load, scale
from benchmarks.store_compare import compare_stores, postgres_url
from benchmarks.takeover import takeover

SCENARIOS = (
    "latency",
    "throughput",
    "scale",
    "peers",
    "store",
    "security",
    "cluster",
    "bus",
)
log = logging.getLogger("benchmarks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run of everything")
    parser.add_argument(
        "--only",
        help=f"comma-separated scenarios out of {','.join(SCENARIOS)} (default: all, "
        "but no peers with --smoke; speedup comes with latency; peers need "
        "benchmarks/peers/setup.sh, which `make bench` runs)",
    )
    parser.add_argument("--levels", help="throughput concurrency levels, e.g. 100,1000")
    parser.add_argument("--duration-s", type=float, help="measured window per load level")
    parser.add_argument("--scale-runs", type=int, help="runs in the scale scenario (10000)")
    parser.add_argument("--scale-latency-ms", type=float, help="backend latency for scale")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run the orchestrator under `py-spy record` and write flame graphs to DIR",
    )
    parser.add_argument(
        "--mesh-compute",
        action="store_true",
        help="keep the mocks' full per-call computation (default: memoized, see mesh_server)",
    )
    parser.add_argument("--out", help="JSON file (default benchmarks/results/bench-<date>.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    plan = SMOKE if args.smoke else FULL
    if args.levels:
        plan = replace(plan, levels=tuple(int(x) for x in args.levels.split(",")))
    if args.duration_s:
        plan = replace(plan, duration_s=args.duration_s)
    if args.scale_runs:
        plan = replace(plan, scale_runs=args.scale_runs)
    if args.scale_latency_ms is not None:
        plan = replace(plan, scale_latency_ms=args.scale_latency_ms)
    default = SCENARIOS[:3] if args.smoke else SCENARIOS
    only = {s.strip() for s in (args.only or ",".join(default)).split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        _parser().error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {"meta": report.meta(plan.name, argv), "plan": plan.__dict__}
    results["meta"]["mesh_memoized"] = not args.mesh_compute
    profile = Path(args.profile) if args.profile else None
    asyncio.run(_run(plan, only, results, profile, memoize=not args.mesh_compute))
    results["checks"] = report.checks(results)
    out = Path(args.out) if args.out else _default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    meta = results["meta"]
    print()
    print(
        f"{meta['command']} — {meta['date']} — {meta['machine']['nproc']} cores, "
        f"{meta['machine']['cpu_model']}, Python {meta['machine']['python']}"
    )
    print()
    print(report.table(results))
    print()
    print(f"JSON: {out}")
    return 0


def _default_out() -> Path:
    return ROOT / "benchmarks" / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"


async def _run(
    plan: Plan, only: set[str], results: dict[str, Any], profile: Path | None, *, memoize: bool
) -> None:
    limit: dict[str, Any] = results.setdefault("limit", {})
    orch: dict[str, Any] = results.setdefault("orchestrator", {})
    floor: dict[str, Any] = results.setdefault("floor", {})
    processes: dict[str, Any] = results.setdefault("processes", {})

    def prefix(tag: str) -> list[str] | None:
        if profile is None:
            return None
        profile.mkdir(parents=True, exist_ok=True)
        return ["py-spy", "record", "--nonblocking", "-o", str(profile / f"{tag}.svg"), "--"]

    if "latency" in only:
        async with _Stack(0.0, prefix("latency-0ms"), memoize, floor=True) as stack:
            log.info("c=1, 0 ms backends")
            c1 = {"concurrency": 1, "warmup_s": plan.c1_warmup_s, "duration_s": plan.c1_duration_s}
            limit["c1_0ms"] = await limit_load(stack.addresses, stack.meter, **c1)
            orch["c1_0ms"] = await orchestrated_load(stack.address, stack.meter, **c1)
            floor["c1_0ms"] = await stack.floor_load(**c1)
            processes["latency_0ms"] = stack.stats()
    if only & {"latency", "throughput"}:
        async with _Stack(
            plan.latency_ms, prefix("load-20ms"), memoize, floor="throughput" in only
        ) as stack:
            if "latency" in only:
                log.info("c=1, %.0f ms backends", plan.latency_ms)
                c1 = {
                    "concurrency": 1,
                    "warmup_s": plan.c1_warmup_s / 2,
                    "duration_s": plan.c1_slow_duration_s,
                }
                limit["c1_20ms"] = await limit_load(stack.addresses, stack.meter, **c1)
                orch["c1_20ms"] = await orchestrated_load(
                    stack.address, stack.meter, speedup=True, **c1
                )
            if "throughput" in only:
                for level in plan.levels:
                    log.info("c=%d, %.0f ms backends", level, plan.latency_ms)
                    load = {
                        "concurrency": level,
                        "warmup_s": plan.warmup_s,
                        "duration_s": plan.duration_s,
                    }
                    key = f"c{level}_20ms"
                    limit[key] = await limit_load(stack.addresses, stack.meter, **load)
                    orch[key] = await orchestrated_load(stack.address, stack.meter, **load)
                    floor[key] = await stack.floor_load(**load)
            processes["load_20ms"] = stack.stats()
    if "peers" in only:
        log.info("peers: DBOS and Prefect on the same mesh (each in its own process)")
        results["peers"] = await run_peers(
            plan.levels,
            latency_ms=plan.latency_ms,
            c1_warmup_s=plan.c1_warmup_s,
            c1_duration_s=plan.c1_duration_s,
            warmup_s=plan.warmup_s,
            duration_s=plan.duration_s,
            memoize=memoize,
        )
    if "store" in only:
        log.info("store: SQLite and PostgreSQL, c=1 0 ms and c=%d 20 ms", plan.levels[0])
        results["store"] = await compare_stores(plan, plan.levels[0])
    if "security" in only:
        from benchmarks.security_cost import compare_security

        log.info(
            "security: off, then mTLS + bearer tokens, c=1 0 ms and c=%d 20 ms", plan.levels[0]
        )
        results["security"] = await compare_security(plan, plan.levels[0])
    if "cluster" in only:
        runs = 1000 if plan.name == "full" else 50
        log.info("cluster: 3 replicas, %d runs in flight, one killed, then one paused", runs)
        results["cluster"] = {
            mode: await takeover(
                postgres_url(), runs, plan.latency_ms, 5.0, 180.0, pause=mode == "pause"
            )
            for mode in ("kill", "pause")
        }
    if "bus" in only:
        from benchmarks.bus import run_benchmark

        events, latency_events = (20_000, 300) if plan.name == "full" else (500, 30)
        log.info("bus: %d events through the relay, %d trigger starts", events, latency_events)
        results["bus"] = await run_benchmark(events, latency_events)
        from benchmarks.bus_e2e import trigger_to_start

        results["bus"]["orchestrator_trigger_start"] = await trigger_to_start(latency_events)
    if "scale" in only:
        # Holding 10,000 runs is the point here: raise the admission cap (AURA_MAX_ACTIVE_RUNS,
        # default 1000) and the per-service bulkhead (default 64 calls in flight) above it.
        room = str(2 * plan.scale_runs)
        scale_env = {"AURA_MAX_ACTIVE_RUNS": room, "AURA_MAX_IN_FLIGHT_PER_SERVICE": room}
        async with _Stack(plan.scale_latency_ms, prefix("scale"), memoize, scale_env) as stack:
            log.info("scale: %d runs, %.0f ms backends", plan.scale_runs, plan.scale_latency_ms)
            results["scale"] = await scale(
                stack.address, stack.orchestrator.child, plan, stack.orchestrator.metrics_port
            )
            processes["scale"] = stack.stats()
        results["scale"].update(await _over_grpc_floor(results["scale"]))


async def _over_grpc_floor(scale_result: dict[str, Any]) -> dict[str, Any]:
    """grpc.aio's own RSS for the scale peak's watch streams and backend calls, and what
    the orchestrator's peak RSS growth holds beyond it."""
    floor = await grpc_call_floor(
        scale_result["peak_watch_streams"], scale_result["peak_backend_calls_in_flight"]
    )
    peak = scale_result["orchestrator_peak_rss_mib"]
    before = scale_result["orchestrator_rss_before_mib"]
    over = None if peak is None or before is None else round(peak - before - floor["floor_mib"], 1)
    return {"grpc_call_floor": floor, "orchestrator_rss_over_grpc_floor_mib": over}


class _Stack:
    """Mesh + orchestrator processes for one backend latency (+ the grpc.aio floor if asked)."""

    def __init__(
        self,
        latency_ms: float,
        prefix: list[str] | None,
        memoize: bool,
        env: dict[str, str] | None = None,
        *,
        floor: bool = False,
    ) -> None:
        self.latency_ms = latency_ms
        self._env = env
        self._prefix = prefix
        self._memoize = memoize
        self._with_floor = floor
        self.floor: Floor | None = None

    async def __aenter__(self) -> _Stack:
        self.mesh, self.addresses = await start_mesh(self.latency_ms, self._memoize)
        try:
            self.orchestrator = await start_orchestrator(
                self.addresses, prefix=self._prefix, extra_env=self._env
            )
        except BaseException:
            await self.mesh.stop()
            raise
        if self._with_floor:
            try:
                self.floor = await start_floor(self.addresses)
            except BaseException:
                await self._stop()
                raise
        self.address = self.orchestrator.address
        self.meter = CpuMeter([self.orchestrator.child, self.mesh])
        return self

    async def floor_load(self, **kwargs: Any) -> dict[str, Any]:
        """`orchestrated_load` against the floor; its CPU meter: the floor and the mesh."""
        assert self.floor is not None, "_Stack(floor=True) starts the floor"
        meter = CpuMeter([self.floor.child, self.mesh])
        return await orchestrated_load(self.floor.address, meter, **kwargs)

    def stats(self) -> dict[str, Any]:
        out = {}
        children: list[Child] = [self.orchestrator.child, self.mesh]
        if self.floor is not None:
            children.append(self.floor.child)
        for child in children:
            stats = child.stats()
            out[child.name] = {
                "pid": child.pid,
                "peak_rss_mib": None if stats.peak_rss_mib is None else round(stats.peak_rss_mib),
                "cpu_s": stats.cpu_s,
            }
        return out

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _stop(self) -> None:
        try:
            if self.floor is not None:
                await self.floor.stop()
        finally:
            try:
                await self.orchestrator.stop()
            finally:
                await self.mesh.stop()
