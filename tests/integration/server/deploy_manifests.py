"""The orchestrator container as the Kubernetes manifest declares it."""

from __future__ import annotations

from typing import Any

import yaml

from tests.helpers import REPO_ROOT


def orchestrator_container() -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(pod spec, orchestrator container, ConfigMap data) from the Kubernetes manifest."""
    docs = list(yaml.safe_load_all((REPO_ROOT / "deploy/kubernetes/orchestrator.yaml").read_text()))
    workload = next(d for d in docs if d["kind"] == "StatefulSet")
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    pod = workload["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "orchestrator")
    return pod, container, config["data"]
