"""Tenants on the bus, without Redis: where a tenant's keys are (the default tenant keeps
the names the bus had before tenants), whose stream an outbox entry goes to, and which
definitions' triggers an event of a tenant reaches."""

from __future__ import annotations

from orchestrator.bus import BusEvent, BusSettings, OutboxEntry, matching_runs, run_finished
from orchestrator.bus.outbox import event_of
from orchestrator.store import service_state
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

ANALYSIS = "workflowDefinitions/complete_style_analysis"
OUTFITS = "workflowDefinitions/outfit_recommendation"


def test_the_default_tenant_keeps_the_keys_of_before_and_another_has_its_own() -> None:
    settings = BusSettings(prefix="aura:")
    assert settings.stream("run.finished") == "aura:{run.finished}:events"
    assert settings.stream("run.finished", "default") == "aura:{run.finished}:events"
    assert settings.dead_letters("jobs", "default") == "aura:{jobs}:dead"
    acme = settings.stream("run.finished", "acme")
    assert acme == "aura:acme/{run.finished}:events"
    assert settings.topic_of(acme) == "run.finished"
    assert settings.dedupe("t", "e1", "acme") != settings.dedupe("t", "e1")
    assert settings.dead_letters("t", "acme") == "aura:acme/{t}:dead"
    assert settings.failures("t", "acme") == "aura:acme/{t}:failures"


def _entry(topic: str, payload: dict[str, object]) -> OutboxEntry:
    return OutboxEntry(1, topic, "k", "e", dict(payload))


def test_a_runs_outbox_entry_goes_to_the_runs_tenant_and_the_orchestrators_own_to_default() -> None:
    made = run_finished("workflowRuns/r1", ANALYSIS, "SUCCEEDED", {}, {}, tenant="acme")
    assert made.payload["tenant"] == "acme"
    assert event_of(_entry(made.topic, made.payload)).tenant == "acme"
    before_tenants = {k: v for k, v in made.payload.items() if k != "tenant"}
    assert event_of(_entry(made.topic, before_tenants)).tenant == "default"
    state = service_state("r", "svc", "127.0.0.1:1", "open", "SERVING", 1)
    assert event_of(_entry(state.topic, {**state.payload, "tenant": "acme"})).tenant == "default"


def _workflows(tenant_of_outfits: str) -> list[CompiledWorkflow]:
    registry = MethodRegistry.default()
    definitions = []
    for definition in seed_definitions():
        if definition.name == OUTFITS:
            definition.tenant = tenant_of_outfits
        definitions.append(definition)
    return [compile_workflow(d, registry) for d in definitions]


def _finished(tenant: str) -> BusEvent:
    made = run_finished("workflowRuns/r9", ANALYSIS, "SUCCEEDED", {"user_id": "u9"}, {})
    return BusEvent(made.topic, made.key, made.event_id, made.payload, tenant=tenant)


def test_a_shared_definitions_trigger_hears_every_tenant_and_runs_in_the_events() -> None:
    shared = _workflows("")
    (acme,) = matching_runs(shared, _finished("acme"))
    (globex,) = matching_runs(shared, _finished("globex"))
    assert (acme.tenant, globex.tenant) == ("acme", "globex")
    assert acme.workflow_definition == globex.workflow_definition == OUTFITS
    (default,) = matching_runs(shared, _finished("default"))
    assert default.tenant == "default"


def test_a_created_definitions_trigger_hears_its_own_tenant_only() -> None:
    owned = _workflows("acme")
    (run,) = matching_runs(owned, _finished("acme"))
    assert run.tenant == "acme" and run.workflow_definition == OUTFITS
    assert matching_runs(owned, _finished("globex")) == []
    assert matching_runs(owned, _finished("default")) == []
