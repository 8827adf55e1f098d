"""The benchmark's smoke form runs end to end, so the full benchmark cannot rot.

No performance numbers are asserted: only that `python -m benchmarks --smoke` runs every
scenario against real processes (mesh, orchestrator, load generator) and writes a
well-formed JSON file and table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


def test_bench_smoke_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "stubs")])}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    results = json.loads(out.read_text())
    assert results["meta"]["plan"] == "smoke"
    assert results["meta"]["machine"]["nproc"] >= 1
    for side in ("limit", "orchestrator"):
        for key in ("c1_0ms", "c1_20ms", "c10_20ms", "c20_20ms"):
            entry = results[side][key]
            assert entry["completed"] > 0, (side, key, entry)
            assert entry["errors"] == 0, (side, key, entry)
            assert entry["p50_ms"] is not None and entry["p99_ms"] >= entry["p50_ms"]
            assert entry["runs_per_s"] > 0
    # The grpc.aio floor: measured at c=1 0 ms and every throughput level, its own CPU per run.
    for key in ("c1_0ms", "c10_20ms", "c20_20ms"):
        entry = results["floor"][key]
        assert entry["completed"] > 0 and entry["errors"] == 0, (key, entry)
        assert entry["runs_per_s"] > 0
        assert entry["cpu_ms_per_run"]["floor"] > 0, (key, entry)
        assert "orchestrator" not in entry["cpu_ms_per_run"]  # not in the floor's meter
    assert "floor" in results["processes"]["load_20ms"]
    speedup = results["orchestrator"]["c1_20ms"]["speedup"]
    assert speedup["runs"] > 0 and speedup["ideal"] > 1
    scale = results["scale"]
    assert scale["errors"] == 0, scale
    assert scale["final_states"] == {"RUN_STATE_SUCCEEDED": scale["runs"]}
    assert scale["orchestrator_peak_rss_mib"] > 0
    # The first steps' backend calls are held while the 200 ms backends answer, and grpc.aio
    # alone is measured holding as many streams and calls as the peak did.
    assert scale["peak_backend_calls_in_flight"] > 0
    floor = scale["grpc_call_floor"]
    assert floor["watch_streams"] == scale["peak_watch_streams"]
    assert floor["backend_calls"] == scale["peak_backend_calls_in_flight"]
    assert floor["floor_mib"] > 0 and floor["kib_per_call"] > 0
    assert scale["orchestrator_rss_over_grpc_floor_mib"] is not None
    assert scale["event_lag_p99_ms"] is not None
    # Every watch stream answered, so each has an open-to-first-answer time.
    assert 0 < scale["watch_first_answer_p50_ms"] <= scale["watch_first_answer_p99_ms"]
    checks = {check["check"] for check in results["checks"]}
    assert "scale errors" in checks and "parallel speedup measured / ideal" in checks
    assert {
        "c1_0ms p50 / limit p50",
        "c1_20ms p50 / limit p50",
        "c10_20ms runs/s / limit runs/s",
        "c20_20ms runs/s / limit runs/s",
        "c10_20ms runs/s / DBOS runs/s (reference 30 runs/s)",
        "c20_20ms runs/s / DBOS runs/s (reference 30 runs/s)",
        "c10_20ms orchestrator CPU ms/run",  # smoke: the c=100 target at its lowest level
        "c10_20ms floor CPU ms/run",
        "c20_20ms floor CPU ms/run",
        "c10_20ms floor runs/s / limit runs/s",
        "c20_20ms floor runs/s / limit runs/s",
        "scale orchestrator peak RSS (MiB)",
        "scale event lag p99 (ms)",
    } <= checks

    table = completed.stdout
    assert (
        "| scenario | hand-written limit | Aura orchestrator | grpc.aio floor | Aura / limit | "
        r"CPU ms/run (orchestrator \| floor \| limit client \| mesh) |"
    ) in table
    for label in ("c=1, 0 ms backends", "c=1, 20 ms backends", "c=10, 20 ms", "scale ("):
        assert label in table
    assert "| target | measured | required | verdict |" in table
