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


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue with the measured value and whether it is met."""
    limit, orch = results.get("limit", {}), results.get("orchestrator", {})
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

    for key, bound, label in (
        ("c1_0ms", 2.0, "<= 2.0x (goal 1.5x)"),
        ("c1_20ms", 1.05, "<= 1.05x"),
    ):
        if key in orch and key in limit:
            ratio = _ratio(orch[key]["p50_ms"], limit[key]["p50_ms"])
            add(f"{key} p50 / limit p50", ratio, label, None if ratio is None else ratio <= bound)
    levels = sorted(
        int(k[1:].split("_")[0])
        for k in orch
        if k.startswith("c") and k != "c1_0ms" and k != "c1_20ms"
    )
    dbos = results.get("peers", {}).get("dbos", {})
    for level in levels:
        key = f"c{level}_20ms"
        if key not in limit:
            continue
        ratio = _ratio(orch[key]["runs_per_s"], limit[key]["runs_per_s"])
        if level == min(levels):
            add(
                f"{key} runs/s / limit runs/s",
                ratio,
                ">= 0.5x",
                None if ratio is None else ratio >= 0.5,
            )
            peer = dbos.get(key, {}).get("runs_per_s") or DBOS_REFERENCE_RUNS_PER_S
            vs = _ratio(orch[key]["runs_per_s"], peer)
            source = "measured" if dbos.get(key) else "reference 30 runs/s"
            add(
                f"{key} runs/s / DBOS runs/s ({source})",
                vs,
                ">= 10x",
                None if vs is None else vs >= 10,
            )
        else:
            add(f"{key} runs/s / limit runs/s", ratio, "(reported)", None)
    scale = results.get("scale")
    if scale:
        add("scale errors", scale["errors"], "0", scale["errors"] == 0)
        rss = scale.get("orchestrator_peak_rss_mib")
        add(
            "scale orchestrator peak RSS (MiB)",
            rss,
            "<= 1024",
            None if rss is None else rss <= 1024,
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


def table(results: dict[str, Any]) -> str:
    """Markdown: one row per measurement, limit next to orchestrator (and peers)."""
    limit, orch = results.get("limit", {}), results.get("orchestrator", {})
    peers = results.get("peers", {})
    peer_names = [
        name for name in ("dbos", "prefect", "prefect_async") if isinstance(peers.get(name), dict)
    ]
    head = ["scenario", "hand-written limit", "Aura orchestrator", "Aura / limit"]
    head += [peer for peer in peer_names]
    rows = [head, ["---"] * len(head)]

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
        row = [
            label,
            lat(limit.get(key)),
            lat(orch.get(key)),
            f"{_fmt(ratio, 2, 'x')} p50 (+{_fmt(over, 2)} ms)",
        ]
        row += [lat(peers[p].get(key)) for p in peer_names]
        rows.append(row)
    for key in sorted(
        (k for k in orch if k not in ("c1_0ms", "c1_20ms")), key=lambda k: int(k[1:].split("_")[0])
    ):
        level = key[1:].split("_")[0]
        ratio = _ratio(orch[key].get("runs_per_s"), limit.get(key, {}).get("runs_per_s"))
        row = [
            f"c={level}, 20 ms backends",
            thr(limit.get(key)),
            thr(orch[key]),
            f"{_fmt(ratio, 2, 'x')} runs/s",
        ]
        row += [thr(peers[p].get(key)) for p in peer_names]
        rows.append(row)
    speedup = orch.get("c1_20ms", {}).get("speedup")
    if speedup:
        row = [
            "parallel speedup (c=1, 20 ms)",
            f"ideal {speedup['ideal']:.3f}x",
            f"measured {speedup['measured_end_to_end']:.3f}x end to end "
            f"({speedup['measured_in_engine']:.3f}x in engine)",
            f"{speedup['efficiency']:.3f} of ideal",
        ]
        rows.append(row + ["-"] * len(peer_names))
    scale = results.get("scale")
    if scale:
        summary = (
            f"{scale['runs']} runs, peak {scale['peak_runs_in_flight']} in flight, "
            f"{scale['peak_watch_streams']} watch streams "
            f"({scale['watch_streams_on_live_runs']} on live runs); errors {scale['errors']}; "
            f"peak RSS {_fmt(scale['orchestrator_peak_rss_mib'], 0)} MiB; "
            f"start {_fmt(scale['start_all_s'])} s + drain {_fmt(scale['drain_s'])} s; "
            f"event lag p50 {_fmt(scale['event_lag_p50_ms'])} / "
            f"p99 {_fmt(scale['event_lag_p99_ms'])} ms"
        )
        rows.append(
            [f"scale ({scale['backend_latency_ms']:.0f} ms backends)", "-", summary, "-"]
            + ["-"] * len(peer_names)
        )
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
        rows.append(
            [f"cluster: 3 replicas, one {done}", "-", summary, "-"] + ["-"] * len(peer_names)
        )
    bus = results.get("bus")
    if bus:
        relay, start = bus["relay"], bus["outbox_to_start"]
        summary = (
            f"relay {relay['events_per_s']} events/s; publish -> start p50 "
            f"{bus['trigger_start']['p50_ms']} / p99 {bus['trigger_start']['p99_ms']} ms; "
            f"outbox -> start p50 {start['p50_ms']} / p99 {start['p99_ms']} ms"
        )
        rows.append(["event bus (Redis Streams)", "-", summary, "-"] + ["-"] * len(peer_names))
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
            rows.append(
                [f"{name}: {key} {label}", show(compared["limit"].get(key)), measured, "-"]
                + ["-"] * len(peer_names)
            )
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
