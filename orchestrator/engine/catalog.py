"""Registered workflow definitions, compiled once: the shipped seeds plus user-defined ones."""

from __future__ import annotations

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import AlreadyExists, NotFound
from orchestrator.store import RunStore
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

DEFINITION_PREFIX = "workflowDefinitions/"


def definition_name(name_or_id: str) -> str:
    """Accepts "workflowDefinitions/x" or the bare id "x"."""
    return (
        name_or_id if name_or_id.startswith(DEFINITION_PREFIX) else DEFINITION_PREFIX + name_or_id
    )


class DefinitionCatalog:
    def __init__(self, store: RunStore, registry: MethodRegistry) -> None:
        self._store = store
        self.registry = registry
        self._compiled: dict[str, CompiledWorkflow] = {}

    async def load(self) -> None:
        for definition in seed_definitions():
            self._compiled[definition.name] = compile_workflow(definition, self.registry)
        for definition in await self._store.list_definitions():
            if definition.name not in self._compiled:
                self._compiled[definition.name] = compile_workflow(definition, self.registry)

    def get(self, name_or_id: str) -> CompiledWorkflow:
        name = definition_name(name_or_id)
        compiled = self._compiled.get(name)
        if compiled is None:
            raise NotFound(
                f"workflow definition {name} not found",
                reason="DEFINITION_NOT_FOUND",
                resource_type="aura.orchestrator.v1.WorkflowDefinition",
                resource_name=name,
            )
        return compiled

    def list(self) -> list[CompiledWorkflow]:
        return [self._compiled[name] for name in sorted(self._compiled)]

    async def create(
        self, definition: workflow_pb2.WorkflowDefinition, *, validate_only: bool = False
    ) -> CompiledWorkflow:
        compiled = compile_workflow(definition, self.registry)
        existing = self._compiled.get(compiled.name)
        if existing is not None:
            if existing.definition.SerializeToString(
                deterministic=True
            ) == compiled.definition.SerializeToString(deterministic=True):
                return existing
            raise AlreadyExists(
                f"workflow definition {compiled.name} already exists with different content",
                reason="DEFINITION_EXISTS",
                resource_type="aura.orchestrator.v1.WorkflowDefinition",
                resource_name=compiled.name,
            )
        if validate_only:
            return compiled
        await self._store.put_definition(compiled.definition)
        self._compiled[compiled.name] = compiled
        return compiled
