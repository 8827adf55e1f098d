"""The benchmark's report on a results dict: issue 17's targets and the table's floor and CPU
columns. Pure functions; the figures are made up."""

from __future__ import annotations

import re
from typing import Any

from benchmarks import report


def _latency(p50: float, cpu: dict[str, float] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"p50_ms": p50, "p99_ms": 2 * p50, "errors": 0}
    if cpu is not None:
        entry["cpu_ms_per_run"] = cpu
    return entry


def _load(runs_per_s: float, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "runs_per_s": runs_per_s,
        "p50_ms": 200.0,
        "p99_ms": 300.0,
        "errors": 0,
        "cpu_ms_per_run": cpu,
    }


def _results(plan: str = "full", levels: tuple[int, ...] = (100, 1000)) -> dict[str, Any]:
    limit: dict[str, Any] = {"c1_0ms": _latency(4.0, {"loadgen": 1.0, "orchestrator": 0.0})}
    orch: dict[str, Any] = {
        "c1_0ms": _latency(5.0, {"orchestrator": 3.0, "mesh": 1.5, "loadgen": 0.3}),
        "c1_20ms": _latency(90.0),
    }
    floor: dict[str, Any] = {"c1_0ms": _latency(4.4, {"floor": 2.4, "mesh": 1.5})}
    limit["c1_20ms"] = _latency(88.0)
    for level in levels:
        key = f"c{level}_20ms"
        limit[key] = _load(500.0, {"loadgen": 1.1, "orchestrator": 0.01, "mesh": 2.0})
        orch[key] = _load(420.0, {"orchestrator": 5.2, "mesh": 2.3, "loadgen": 0.4})
        floor[key] = _load(465.0, {"floor": 2.2, "mesh": 2.1, "loadgen": 0.4})
    return {
        "meta": {"plan": plan},
        "limit": limit,
        "orchestrator": orch,
        "floor": floor,
        "scale": {
            "runs": 10_000,
            "backend_latency_ms": 30_000.0,
            "errors": 0,
            "peak_runs_in_flight": 10_000,
            "peak_watch_streams": 10_000,
            "watch_streams_on_live_runs": 10_000,
            "orchestrator_peak_rss_mib": 800.0,
            "start_all_s": 28.0,
            "drain_s": 120.0,
            "event_lag_p50_ms": 7.0,
            "event_lag_p99_ms": 450.0,
        },
    }


def _by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["check"]: check for check in report.checks(results)}


def test_issue_17_latency_throughput_and_cpu_targets() -> None:
    checks = _by_name(_results())

    assert checks["c1_0ms p50 / limit p50"] == {
        "check": "c1_0ms p50 / limit p50",
        "value": 1.25,
        "target": "<= 1.5x",
        "met": True,
    }
    assert checks["c1_20ms p50 / limit p50"]["target"] == "<= 1.05x"
    assert checks["c1_20ms p50 / limit p50"]["met"] is True
    for level in (100, 1000):  # every level, not only the lowest
        ratio = checks[f"c{level}_20ms runs/s / limit runs/s"]
        assert (ratio["value"], ratio["target"], ratio["met"]) == (0.84, ">= 0.8x", True)
        dbos = checks[f"c{level}_20ms runs/s / DBOS runs/s (reference 30 runs/s)"]
        assert (dbos["value"], dbos["target"], dbos["met"]) == (14.0, ">= 10x", True)
    cpu = checks["c100_20ms orchestrator CPU ms/run"]
    assert (cpu["value"], cpu["target"], cpu["met"]) == (5.2, "<= 2.0", False)
    assert "c1000_20ms orchestrator CPU ms/run" not in checks


def test_the_floor_is_reported_at_every_level_without_a_verdict() -> None:
    checks = _by_name(_results())

    for level in (100, 1000):
        cpu = checks[f"c{level}_20ms floor CPU ms/run"]
        assert (cpu["value"], cpu["target"], cpu["met"]) == (2.2, "(reported)", None)
        ratio = checks[f"c{level}_20ms floor runs/s / limit runs/s"]
        assert (ratio["value"], ratio["target"], ratio["met"]) == (0.93, "(reported)", None)
    assert checks["c1_0ms floor p50 / limit p50"]["value"] == 1.1
    assert checks["c1_0ms floor p50 / limit p50"]["met"] is None


def test_dbos_measured_in_the_same_run_is_used_per_level() -> None:
    results = _results()
    results["peers"] = {"dbos": {"c100_20ms": {"runs_per_s": 40.0}}}
    checks = _by_name(results)

    measured = checks["c100_20ms runs/s / DBOS runs/s (measured)"]
    assert (measured["value"], measured["met"]) == (10.5, True)
    # Not measured at c=1000 (e.g. skipped): the reference figure, and said so.
    assert checks["c1000_20ms runs/s / DBOS runs/s (reference 30 runs/s)"]["value"] == 14.0


def test_missed_targets_are_missed() -> None:
    results = _results()
    results["orchestrator"]["c1000_20ms"]["runs_per_s"] = 350.0  # 0.70x
    results["orchestrator"]["c1_0ms"]["p50_ms"] = 6.4  # 1.6x
    results["orchestrator"]["c100_20ms"]["cpu_ms_per_run"]["orchestrator"] = 1.9
    checks = _by_name(results)

    assert checks["c1000_20ms runs/s / limit runs/s"]["met"] is False
    assert checks["c100_20ms runs/s / limit runs/s"]["met"] is True
    assert checks["c1_0ms p50 / limit p50"]["met"] is False
    assert checks["c100_20ms orchestrator CPU ms/run"]["met"] is True


def test_cpu_target_in_smoke_is_checked_at_the_lowest_level_and_labelled_so() -> None:
    checks = _by_name(_results("smoke", (10, 20)))

    cpu = checks["c10_20ms orchestrator CPU ms/run"]
    assert cpu["target"] == "<= 2.0 (the c=100 target, at c=10)"
    assert not any("c20_20ms orchestrator CPU" in name for name in checks)


def test_no_cpu_target_without_c100_outside_smoke() -> None:
    checks = _by_name(_results("full", (1000,)))

    assert not any("orchestrator CPU ms/run" in name for name in checks)
    assert "c1000_20ms floor CPU ms/run" in checks


def test_scale_targets() -> None:
    checks = _by_name(_results())

    assert checks["scale errors"]["met"] is True
    rss = checks["scale orchestrator peak RSS (MiB)"]
    assert (rss["value"], rss["target"], rss["met"]) == (800.0, "<= 768", False)
    lag = checks["scale event lag p99 (ms)"]
    assert (lag["value"], lag["target"], lag["met"]) == (450.0, "< 500", True)
    slow = _results()
    slow["scale"]["event_lag_p99_ms"] = 500.0
    assert _by_name(slow)["scale event lag p99 (ms)"]["met"] is False


def test_targets_of_other_issues_stay() -> None:
    results = _results()
    results["orchestrator"]["c1_20ms"]["speedup"] = {
        "ideal": 1.25,
        "measured_end_to_end": 1.2,
        "measured_in_engine": 1.23,
        "efficiency": 0.96,
    }
    checks = _by_name(results)

    assert checks["parallel speedup measured / ideal"]["target"] == ">= 0.95"


def _cells(line: str) -> list[str]:
    """A markdown table line's cells ("\\|" is a pipe inside a cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_table_has_the_floor_and_cpu_columns() -> None:
    results = _results()
    results["checks"] = report.checks(results)
    lines = report.table(results).splitlines()
    head = _cells(lines[0])

    assert head == [
        "scenario",
        "hand-written limit",
        "Aura orchestrator",
        "grpc.aio floor",
        "Aura / limit",
        r"CPU ms/run (orchestrator \| floor \| limit client \| mesh)",
    ]
    rows = {cells[0]: cells for cells in map(_cells, lines[2:]) if len(cells) == len(head)}
    c100 = rows["c=100, 20 ms backends"]
    assert c100[3] == "465.0 runs/s (p50 200.0 / p99 300.0 ms)"
    assert c100[5] == r"5.20 \| 2.20 \| 1.10 \| 2.30"
    c1 = rows["c=1, 0 ms backends"]
    assert c1[3] == "p50 4.40 / p99 8.80 ms"
    assert c1[5] == r"3.00 \| 2.40 \| 1.00 \| 1.50"
    # No CPU measured at c=1, 20 ms in this dict: "-", as for the summary rows.
    assert rows["c=1, 20 ms backends"][5] == "-"
    assert rows["c=1, 20 ms backends"][3] == "-"  # the floor is not run there


def test_table_rows_all_have_the_header_s_cells() -> None:
    results = _results()
    results["orchestrator"]["c1_20ms"]["speedup"] = {
        "ideal": 1.25,
        "measured_end_to_end": 1.2,
        "measured_in_engine": 1.23,
        "efficiency": 0.96,
    }
    results["peers"] = {"dbos": {"c100_20ms": _load(40.0, {})}}
    results["checks"] = report.checks(results)
    text = report.table(results)
    rows = text.split("\n\n")[0].splitlines()

    widths = {len(_cells(line)) for line in rows}
    assert widths == {7}, rows  # 6 columns + DBOS
    assert any(line.startswith("| scale (30000 ms backends)") for line in rows)
    assert "| c100_20ms floor CPU ms/run | 2.2 | (reported) | - |" in text
