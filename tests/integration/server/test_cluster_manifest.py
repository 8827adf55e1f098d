"""The Kubernetes manifests of a cluster: replicas on a store named by a Secret."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from orchestrator.cli.processes import EXIT_MARGIN_S
from orchestrator.config import Settings, unknown_variables
from tests.helpers import REPO_ROOT
from tests.integration.server.deploy_manifests import orchestrator_container

pytestmark = pytest.mark.integration
CLUSTER = REPO_ROOT / "deploy/kubernetes-cluster"


def _replicas() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(yaml.safe_load_all((CLUSTER / "orchestrator-replicas.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    return deployment, next(c for c in pod["containers"] if c["name"] == "orchestrator")


def test_several_replicas_take_the_store_url_from_a_secret_and_their_id_from_the_pod() -> None:
    deployment, container = _replicas()
    env = {item["name"]: item for item in container["env"]}

    assert deployment["spec"]["replicas"] >= 2
    secret = env["AURA_STORE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "aura-store", "key": "url"}
    assert env["AURA_REPLICA_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert unknown_variables(dict.fromkeys(env, "x")) == []
    assert "postgresql://" not in (CLUSTER / "orchestrator-replicas.yaml").read_text(), (
        "no store URL (and no password) in git"
    )


def test_the_replicas_are_the_pods_the_base_service_balances_over() -> None:
    deployment, _ = _replicas()
    base = list(yaml.safe_load_all((REPO_ROOT / "deploy/kubernetes/orchestrator.yaml").read_text()))
    service = next(d for d in base if d["kind"] == "Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    kustomization = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
    assert "../kubernetes" in kustomization["resources"]
    assert "StatefulSet" in kustomization["patches"][0]["patch"], "the SQLite StatefulSet goes"


def test_a_replica_drains_like_the_single_orchestrator() -> None:
    deployment, container = _replicas()
    _, single, config = orchestrator_container()
    settings = Settings.from_env(config)
    pod = deployment["spec"]["template"]["spec"]
    drain_s = settings.shutdown_delay_s + settings.shutdown_grace_s + EXIT_MARGIN_S

    assert drain_s < pod["terminationGracePeriodSeconds"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe] == single[probe]
