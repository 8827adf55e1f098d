"""`aura up --replicas N`: where each replica listens, and what cannot share a store."""

import pytest

from orchestrator.cli.cluster_up import plan_replicas
from orchestrator.cli.main import main
from orchestrator.config import Settings
from orchestrator.telemetry import TelemetrySettings

STORE = "postgresql://aura@127.0.0.1:5432/aura"


def test_each_replica_gets_the_next_ports_and_its_own_id() -> None:
    settings = Settings(port=8006, store_url=STORE)
    plans = plan_replicas(settings, TelemetrySettings(metrics_port=9464), 3)
    assert [plan.address for plan in plans] == [
        "127.0.0.1:8006",
        "127.0.0.1:8007",
        "127.0.0.1:8008",
    ]
    assert [plan.env["AURA_METRICS_PORT"] for plan in plans] == ["9464", "9465", "9466"]
    assert [plan.replica_id for plan in plans] == ["replica-1", "replica-2", "replica-3"]
    assert {plan.env["AURA_STORE_URL"] for plan in plans} == {STORE}


def test_metrics_stay_off_for_every_replica_when_off() -> None:
    plans = plan_replicas(Settings(store_url=STORE), TelemetrySettings(metrics_port=None), 2)
    assert {plan.env["AURA_METRICS_PORT"] for plan in plans} == {"off"}


def test_the_replicas_serve_no_console_of_their_own() -> None:
    plans = plan_replicas(Settings(store_url=STORE), TelemetrySettings(), 2)
    assert {plan.env["AURA_CONSOLE_ADDRESS"] for plan in plans} == {"off"}


def test_several_replicas_on_sqlite_are_refused_with_the_way_out() -> None:
    with pytest.raises(RuntimeError, match="--store postgresql://"):
        plan_replicas(Settings(), TelemetrySettings(), 2)


def test_a_store_that_is_not_postgresql_is_refused_without_showing_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["up", "--store", "mysql://root:hunter2@db/aura"]) == 2
    err = capsys.readouterr().err
    assert "postgresql://" in err
    assert "hunter2" not in err
