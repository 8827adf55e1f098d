"""The takeover benchmark's small form runs end to end against real processes and a real
PostgreSQL, so the full one cannot rot; its correctness figures must be perfect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tests.postgres_fixtures import PostgresSchema, postgres_url

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(120)]


def test_takeover_benchmark_runs_and_reports(
    postgres_schema: PostgresSchema, tmp_path: Path
) -> None:
    out = tmp_path / "takeover.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "stubs")])}
    command = [sys.executable, "-m", "benchmarks.takeover", "--dsn", postgres_url()]
    command += ["--runs", "30", "--lease-s", "2", "--out", str(out)]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=100, check=False
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["taken_over"] == results["victim_unfinished_at_kill"] > 0
    for figure in (
        "lost_runs",
        "histories_with_gaps_or_duplicates",
        "events_by_a_fenced_replica",
        "epoch_regressions",
        "events_by_the_victim_after_the_kill",
    ):
        assert results[figure] == 0, figure
    assert "| takeover_p99_s |" in completed.stdout
