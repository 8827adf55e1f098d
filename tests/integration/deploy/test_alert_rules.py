"""The Prometheus alerting rules in deploy/prometheus are valid and fire as their unit
tests say (`promtool check rules`, `promtool test rules`). promtool comes from Debian's
`prometheus` package (.ci/run installs it); without it the test skips, saying so,
unless AURA_REQUIRE_SERVICES=1."""

from __future__ import annotations

import shutil
import subprocess

from tests.helpers import REPO_ROOT
from tests.redis_fixtures import missing

RULES = REPO_ROOT / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        missing("promtool is not installed (apt-get install prometheus)")
    return subprocess.run(
        [str(binary), *args], cwd=RULES, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_alerting_rules_are_valid() -> None:
    result = _promtool("check", "rules", "aura-alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_the_alerting_rules_fire_as_their_unit_tests_expect() -> None:
    result = _promtool("test", "rules", "aura-alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
