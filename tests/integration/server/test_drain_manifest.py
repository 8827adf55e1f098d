"""The Kubernetes manifest's shutdown settings fit the drain `aura serve` does on SIGTERM."""

from __future__ import annotations

import pytest

from orchestrator.cli.processes import EXIT_MARGIN_S
from orchestrator.config import Settings
from tests.integration.server.deploy_manifests import orchestrator_container

pytestmark = pytest.mark.integration


def test_the_readiness_probe_sees_not_serving_before_the_port_closes() -> None:
    _, container, env = orchestrator_container()
    settings = Settings.from_env(env)  # read as the process reads them: names are checked too
    readiness = container["readinessProbe"]

    noticed_within_s = (
        readiness["periodSeconds"] * readiness["failureThreshold"] + readiness["timeoutSeconds"]
    )
    assert settings.shutdown_delay_s > 0, "AURA_SHUTDOWN_DELAY_S is set"
    assert noticed_within_s <= settings.shutdown_delay_s


def test_the_pod_outlives_the_whole_drain_and_liveness_does_not_cut_it_short() -> None:
    pod, container, env = orchestrator_container()
    settings = Settings.from_env(env)
    liveness = container["livenessProbe"]
    drain_s = settings.shutdown_delay_s + settings.shutdown_grace_s + EXIT_MARGIN_S

    assert "preStop" not in container.get("lifecycle", {}), "the delay is in the process"
    assert drain_s < pod["terminationGracePeriodSeconds"]
    # "" turns NOT_SERVING at SIGTERM too; the kubelet restarts after failureThreshold
    # failures, the first of which may come right at SIGTERM.
    assert (liveness["failureThreshold"] - 1) * liveness["periodSeconds"] > drain_s
