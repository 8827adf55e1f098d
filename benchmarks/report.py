"""The results table (markdown, pasteable into the README) and the target checks."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

# Measured before on this kind of machine (2 cores), used when the peers are not run.
DBOS_REFERENCE_RUNS_PER_S = 30.0


def machine() -> dict[str, Any]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if "Model name" in line),
            "",
        )
    except OSError:
        pass
    if not model and Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("grpcio", "protobuf"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def meta(plan_name: str, argv: list[str]) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks", *argv]),
        "plan": plan_name,
        "machine": machine(),
        "executable": sys.executable,
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _fmt(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


# Issue 17's targets for the orchestrator on the 20 ms mesh.
C1_0MS_P50_BOUND = 1.5  # x the limit's p50
C1_20MS_P50_BOUND = 1.05
RUNS_PER_S_VS_LIMIT = 0.8  # at every throughput level
RUNS_PER_S_VS_DBOS = 10.0
CPU_MS_PER_RUN_LEVEL = 100
CPU_MS_PER_RUN_BOUND = 2.0  # orchestrator CPU per run at c=100
SCALE_PEAK_RSS_MIB = 768
SCALE_EVENT_LAG_P99_MS = 500


def throughput_levels(side: dict[str, Any]) -> list[int]:
    """The concurrency levels `side` (results["orchestrator"], ...) has `c<N>_20ms` entries
    for, ascending (the c=1 latency entries are not throughput levels)."""
    return sorted(
        int(key[1:].split("_")[0])
        for key in side
        if key.startswith("c") and key not in ("c1_0ms", "c1_20ms")
    )


def _cpu(entry: dict[str, Any] | None, process: str) -> float | None:
    value = (entry or {}).get("cpu_ms_per_run", {}).get(process)
    return None if value is None else float(value)


def _cpu_level(results: dict[str, Any], levels: list[int]) -> int | None:
    """c=100 when it was run; in the smoke plan (no c=100) its lowest level; else None."""
    if CPU_MS_PER_RUN_LEVEL in levels:
        return CPU_MS_PER_RUN_LEVEL
    if levels and results.get("meta", {}).get("plan") == "smoke":
        return min(levels)
    return None


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target (issue 17's for latency, throughput, CPU and scale; the others' for
    security, store, bus, cluster and the speedup) with the measured value and whether it is
    met. The grpc.aio floor's figures come as "(reported)": the bound under the targets."""
    limit, orch = results.get("limit", {}), results.get("orchestrator", {})
    floor = results.get("floor", {})
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: str, ok: bool | None) -> None:
        out.append(
            {
                "check": name,
                "value": None if value is None else round(value, 3),
                "target": target,
                "met": ok,
            }
        )

    for key, bound in (("c1_0ms", C1_0MS_P50_BOUND), ("c1_20ms", C1_20MS_P50_BOUND)):
        if key in orch and key in limit:
            ratio = _ratio(orch[key]["p50_ms"], limit[key]["p50_ms"])
            add(
                f"{key} p50 / limit p50",
                ratio,
                f"<= {bound}x",
                None if ratio is None else ratio <= bound,
            )
    if "c1_0ms" in floor and "c1_0ms" in limit:
        ratio = _ratio(floor["c1_0ms"]["p50_ms"], limit["c1_0ms"]["p50_ms"])
        add("c1_0ms floor p50 / limit p50", ratio, "(reported)", None)
    levels = throughput_levels(orch)
    dbos = results.get("peers", {}).get("dbos", {})
    for level in levels:
        key = f"c{level}_20ms"
        if key not in limit:
            continue
        ratio = _ratio(orch[key]["runs_per_s"], limit[key]["runs_per_s"])
        add(
            f"{key} runs/s / limit runs/s",
            ratio,
            f">= {RUNS_PER_S_VS_LIMIT}x",
            None if ratio is None else ratio >= RUNS_PER_S_VS_LIMIT,
        )
        peer = dbos.get(key, {}).get("runs_per_s") or DBOS_REFERENCE_RUNS_PER_S
        vs = _ratio(orch[key]["runs_per_s"], peer)
        source = "measured" if dbos.get(key, {}).get("runs_per_s") else "reference 30 runs/s"
        add(
            f"{key} runs/s / DBOS runs/s ({source})",
            vs,
            f">= {RUNS_PER_S_VS_DBOS:.0f}x",
            None if vs is None else vs >= RUNS_PER_S_VS_DBOS,
        )
    cpu_level = _cpu_level(results, levels)
    if cpu_level is not None:
        key = f"c{cpu_level}_20ms"
        cpu = _cpu(orch.get(key), "orchestrator")
        target = f"<= {CPU_MS_PER_RUN_BOUND}"
        if cpu_level != CPU_MS_PER_RUN_LEVEL:
            target += f" (the c={CPU_MS_PER_RUN_LEVEL} target, at c={cpu_level})"
        add(
            f"{key} orchestrator CPU ms/run",
            cpu,
            target,
            None if cpu is None else cpu <= CPU_MS_PER_RUN_BOUND,
        )
    for level in throughput_levels(floor):
        key = f"c{level}_20ms"
        add(f"{key} floor CPU ms/run", _cpu(floor[key], "floor"), "(reported)", None)
        ratio = _ratio(floor[key].get("runs_per_s"), limit.get(key, {}).get("runs_per_s"))
        add(f"{key} floor runs/s / limit runs/s", ratio, "(reported)", None)
    scale = results.get("scale")
    if scale:
        add("scale errors", scale["errors"], "0", scale["errors"] == 0)
        rss = scale.get("orchestrator_peak_rss_mib")
        add(
            "scale orchestrator peak RSS (MiB)",
            rss,
            f"<= {SCALE_PEAK_RSS_MIB}",
            None if rss is None else rss <= SCALE_PEAK_RSS_MIB,
        )
        lag = scale.get("event_lag_p99_ms")
        add(
            "scale event lag p99 (ms)",
            lag,
            f"< {SCALE_EVENT_LAG_P99_MS}",
            None if lag is None else lag < SCALE_EVENT_LAG_P99_MS,
        )
    if results.get("security"):
        from benchmarks.security_cost import security_checks

        for name, value, target, ok in security_checks(results["security"]):
            add(name, value, target, ok)
    if results.get("store"):
        from benchmarks.store_compare import store_checks

        for name, value, target, ok in store_checks(results["store"]):
            add(name, value, target, ok)
    bus = results.get("bus")
    if bus:
        rate = bus["relay"]["events_per_s"]
        add("bus: events/s through the outbox relay", rate, ">= 2000", rate >= 2000)
        p50 = bus["trigger_start"]["p50_ms"]
        add("bus: publish -> trigger -> start stand-in p50 (ms)", p50, "<= 20", p50 <= 20)
        real = bus.get("orchestrator_trigger_start")
        if real:
            p50 = real["p50_ms"]
            add("bus: publish -> orchestrator run created p50 (ms)", p50, "<= 20", p50 <= 20)
    for mode, cluster in results.get("cluster", {}).items():
        p99 = cluster.get("takeover_p99_s")
        add(f"cluster {mode}: takeover p99 (s)", p99, "<= 10", None if p99 is None else p99 <= 10)
        broken = sum(
            cluster[key]
            for key in (
                "lost_runs",
                "histories_with_gaps_or_duplicates",
                "events_by_a_fenced_replica",
                "epoch_regressions",
            )
        )
        add(f"cluster {mode}: lost runs + bad histories + fenced writes", broken, "0", broken == 0)
    speedup = orch.get("c1_20ms", {}).get("speedup")
    if speedup:
        add(
            "parallel speedup measured / ideal",
            speedup["efficiency"],
            ">= 0.95",
            speedup["efficiency"] >= 0.95,
        )
    return out


# A "|" inside a markdown table cell is escaped.
CPU_COLUMN = r"CPU ms/run (orchestrator \| floor \| limit client \| mesh)"


def cpu_cell(results: dict[str, Any], key: str) -> str:
    """CPU ms per run for measurement `key` (e.g. "c100_20ms"): the orchestrator's and the
    mesh's while the orchestrator ran, the floor's process while the floor ran, and the load
    generator's while it made the calls by hand (the limit); "-" where it was not measured."""
    orch = results.get("orchestrator", {}).get(key)
    figures = (
        _cpu(orch, "orchestrator"),
        _cpu(results.get("floor", {}).get(key), "floor"),
        _cpu(results.get("limit", {}).get(key), "loadgen"),
        _cpu(orch, "mesh"),
    )
    if all(figure is None for figure in figures):
        return "-"
    return r" \| ".join(_fmt(figure, 2) for figure in figures)


def table(results: dict[str, Any]) -> str:
    """Markdown: one row per measurement, limit next to orchestrator, grpc.aio floor (and
    peers), with the CPU each process spent per run where it was measured."""
    limit, orch = results.get("limit", {}), results.get("orchestrator", {})
    floor = results.get("floor", {})
    peers = results.get("peers", {})
    peer_names = [
        name for name in ("dbos", "prefect", "prefect_async") if isinstance(peers.get(name), dict)
    ]
    head = [
        "scenario",
        "hand-written limit",
        "Aura orchestrator",
        "grpc.aio floor",
        "Aura / limit",
        CPU_COLUMN,
    ]
    head += [peer for peer in peer_names]
    rows = [head, ["---"] * len(head)]

    def row(label: str, lim: str, aura: str, flo: str, ratio: str, cpu: str) -> list[str]:
        return [label, lim, aura, flo, ratio, cpu]

    def summary_row(label: str, summary: str) -> list[str]:
        return row(label, "-", summary, "-", "-", "-") + ["-"] * len(peer_names)

    def lat(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "-"
        text = f"p50 {_fmt(entry.get('p50_ms'), 2)} / p99 {_fmt(entry.get('p99_ms'), 2)} ms"
        if entry.get("errors"):
            text += f" ({entry['errors']} errors)"
        return text

    def thr(entry: dict[str, Any] | None) -> str:
        if not entry:
            return "-"
        if "skipped" in entry:
            return f"not run: {entry['skipped']}"
        text = (
            f"{_fmt(entry.get('runs_per_s'))} runs/s (p50 {_fmt(entry.get('p50_ms'))} / "
            f"p99 {_fmt(entry.get('p99_ms'))} ms)"
        )
        if entry.get("errors"):
            text += f" ({entry['errors']} errors)"
        return text

    for key, label in (("c1_0ms", "c=1, 0 ms backends"), ("c1_20ms", "c=1, 20 ms backends")):
        if key not in orch and key not in limit:
            continue
        ratio = _ratio(orch.get(key, {}).get("p50_ms"), limit.get(key, {}).get("p50_ms"))
        over = None
        if key in orch and key in limit:
            over = orch[key]["p50_ms"] - limit[key]["p50_ms"]
        cells = row(
            label,
            lat(limit.get(key)),
            lat(orch.get(key)),
            lat(floor.get(key)),
            f"{_fmt(ratio, 2, 'x')} p50 (+{_fmt(over, 2)} ms)",
            cpu_cell(results, key),
        )
        rows.append(cells + [lat(peers[p].get(key)) for p in peer_names])
    for key in sorted(
        (k for k in orch if k not in ("c1_0ms", "c1_20ms")), key=lambda k: int(k[1:].split("_")[0])
    ):
        level = key[1:].split("_")[0]
        ratio = _ratio(orch[key].get("runs_per_s"), limit.get(key, {}).get("runs_per_s"))
        cells = row(
            f"c={level}, 20 ms backends",
            thr(limit.get(key)),
            thr(orch[key]),
            thr(floor.get(key)),
            f"{_fmt(ratio, 2, 'x')} runs/s",
            cpu_cell(results, key),
        )
        rows.append(cells + [thr(peers[p].get(key)) for p in peer_names])
    speedup = orch.get("c1_20ms", {}).get("speedup")
    if speedup:
        cells = row(
            "parallel speedup (c=1, 20 ms)",
            f"ideal {speedup['ideal']:.3f}x",
            f"measured {speedup['measured_end_to_end']:.3f}x end to end "
            f"({speedup['measured_in_engine']:.3f}x in engine)",
            "-",
            f"{speedup['efficiency']:.3f} of ideal",
            "-",
        )
        rows.append(cells + ["-"] * len(peer_names))
    scale = results.get("scale")
    if scale:
        summary = (
            f"{scale['runs']} runs, peak {scale['peak_runs_in_flight']} in flight, "
            f"{scale['peak_watch_streams']} watch streams "
            f"({scale['watch_streams_on_live_runs']} on live runs); errors {scale['errors']}; "
            f"peak RSS {_fmt(scale['orchestrator_peak_rss_mib'], 0)} MiB{_floor_note(scale)}; "
            f"start {_fmt(scale['start_all_s'])} s + drain {_fmt(scale['drain_s'])} s; "
            f"event lag p50 {_fmt(scale['event_lag_p50_ms'])} / "
            f"p99 {_fmt(scale['event_lag_p99_ms'])} ms"
        )
        rows.append(summary_row(f"scale ({scale['backend_latency_ms']:.0f} ms backends)", summary))
    for mode, cluster in results.get("cluster", {}).items():
        summary = (
            f"{cluster['victim_unfinished_at_kill']} runs on that replica, "
            f"{cluster['taken_over']} taken over, p50 {cluster['takeover_p50_s']} / "
            f"p99 {cluster['takeover_p99_s']} s; all {cluster['runs']} final "
            f"{cluster['all_final_after_kill_s']} s after; lost {cluster['lost_runs']}, "
            f"bad histories {cluster['histories_with_gaps_or_duplicates']}, "
            f"fenced writes {cluster['events_by_a_fenced_replica']}"
        )
        done = {"kill": "killed (-9)", "pause": "paused (SIGSTOP, 2x lease)"}.get(mode, mode)
        rows.append(summary_row(f"cluster: 3 replicas, one {done}", summary))
    bus = results.get("bus")
    if bus:
        relay, start = bus["relay"], bus["outbox_to_start"]
        summary = (
            f"relay {relay['events_per_s']} events/s; publish -> start p50 "
            f"{bus['trigger_start']['p50_ms']} / p99 {bus['trigger_start']['p99_ms']} ms; "
            f"outbox -> start p50 {start['p50_ms']} / p99 {start['p99_ms']} ms"
        )
        rows.append(summary_row("event bus (Redis Streams)", summary))
    # Same-run comparisons: (results key, label, compared sides and their names).
    comparisons = (
        ("store", "SQLite vs PostgreSQL", (("sqlite", "SQLite"), ("postgres", "PostgreSQL"))),
        ("security", "off vs mTLS + tokens", (("off", "off"), ("on", "on"))),
    )
    for name, label, sides in comparisons:
        compared = results.get(name)
        if not compared:
            continue
        last = sides[-1][0]
        for key in sorted(compared.get(last, {}), key=lambda k: (k != "c1_0ms", k)):
            show = lat if key == "c1_0ms" else thr
            measured = "; ".join(
                f"{title} {show(compared[side].get(key))}" for side, title in sides
            )
            cells = row(
                f"{name}: {key} {label}", show(compared["limit"].get(key)), measured, "-", "-", "-"
            )
            rows.append(cells + ["-"] * len(peer_names))
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.append("")
    lines.append("| target | measured | required | verdict |")
    lines.append("| --- | --- | --- | --- |")
    for check in results.get("checks", []):
        lines.append(
            f"| {check['check']} | {check['value']} | {check['target']} | "
            f"{_verdict(check['met'])} |"
        )
    return "\n".join(lines)


def _floor_note(scale: dict[str, Any]) -> str:
    """What grpc.aio alone holds for the peak's streams and calls (benchmarks.call_memory)."""
    floor = scale.get("grpc_call_floor")
    if not floor:
        return ""
    return (
        f" (grpc.aio alone, same {floor['watch_streams']} streams + {floor['backend_calls']} "
        f"backend calls: {_fmt(floor['floor_mib'], 0)} MiB; the orchestrator's own: "
        f"{_fmt(scale.get('orchestrator_rss_over_grpc_floor_mib'), 0)} MiB)"
    )
