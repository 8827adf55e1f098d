"""Registered workflow definitions, compiled once: the shipped seeds plus user-defined ones.

Seeds come from the code at every start, so they cannot be deleted (they would come
back); user-defined ones can, once no run of them is unfinished.

Replicas sharing a store learn each other's definitions: `ensure` reads the store when a
run names one this replica does not know yet (another replica just created it), and
`refresh` (the replica coordinator's, once a tick) picks up the others' new ones for the
listing. A definition deleted on another replica stays known here until a restart.

Every look names its scope: a tenant sees the seeds (WorkflowDefinition.tenant empty,
shared) and its own definitions; another tenant's reads as no definition at all. Names are
one namespace: creating a name another tenant holds is ALREADY_EXISTS (DEFINITION_NAME_TAKEN).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import AlreadyExists, FailedPrecondition, NotFound
from orchestrator.names import DEFAULT_TENANT, definition_name
from orchestrator.runs import TenantScope
from orchestrator.store import RunStore
from orchestrator.workflows import (
    CompiledWorkflow,
    MethodRegistry,
    compile_workflow,
    seed_definitions,
)

log = logging.getLogger(__name__)


class DefinitionCatalog:
    def __init__(self, store: RunStore, registry: MethodRegistry) -> None:
        self._store = store
        self.registry = registry
        self._compiled: dict[str, CompiledWorkflow] = {}
        self._seeds: set[str] = set()
        self._refreshing: asyncio.Future[None] | None = None
        self._deleted: set[str] = set()  # deleted here: never learned back from the store

    async def load(self) -> None:
        for definition in seed_definitions():
            self._compiled[definition.name] = compile_workflow(definition, self.registry)
            self._seeds.add(definition.name)
        for definition in await self._store.list_definitions():
            if definition.name not in self._compiled:
                self._compiled[definition.name] = compile_workflow(definition, self.registry)

    async def ensure(self, names: Iterable[str]) -> None:
        """Reads the store's definitions if one of `names` is not known here (created on
        another replica); a name the store does not have either stays unknown."""
        if any(definition_name(name) not in self._compiled for name in names):
            await self.refresh()

    async def refresh(self) -> None:
        """Adds the store's definitions this replica does not know yet. Concurrent calls
        share one read."""
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._read_new())
            self._refreshing.add_done_callback(self._refreshed)
        await asyncio.shield(self._refreshing)

    def _refreshed(self, done: asyncio.Future[None]) -> None:
        self._refreshing = None
        if not done.cancelled():
            done.exception()  # the callers waiting on it see it

    async def _read_new(self) -> None:
        for definition in await self._store.list_definitions():
            if definition.name in self._compiled or definition.name in self._deleted:
                continue  # known, or deleted here (a read from before the delete)
            try:
                self._compiled[definition.name] = compile_workflow(definition, self.registry)
            except Exception as error:  # stored by a newer replica, say: not usable here
                log.warning(
                    "stored definition %s does not compile here: %s", definition.name, error
                )

    def get(self, name_or_id: str, *, scope: TenantScope) -> CompiledWorkflow:
        name = definition_name(name_or_id)
        compiled = self._compiled.get(name)
        if compiled is None or not _visible(compiled, scope):
            raise NotFound(
                f"workflow definition {name} not found",
                reason="DEFINITION_NOT_FOUND",
                resource_type="aura.orchestrator.v1.WorkflowDefinition",
                resource_name=name,
            )
        return compiled

    def list(self, *, scope: TenantScope) -> list[CompiledWorkflow]:
        visible = (self._compiled[name] for name in sorted(self._compiled))
        return [compiled for compiled in visible if _visible(compiled, scope)]

    async def create(
        self,
        definition: workflow_pb2.WorkflowDefinition,
        *,
        scope: TenantScope,
        validate_only: bool = False,
    ) -> CompiledWorkflow:
        owned = workflow_pb2.WorkflowDefinition()
        owned.CopyFrom(definition)
        owned.tenant = scope.tenant or DEFAULT_TENANT
        compiled = compile_workflow(owned, self.registry)
        existing = self._compiled.get(compiled.name)
        if existing is not None and not _visible(existing, scope):
            raise AlreadyExists(
                f"workflow definition name {compiled.name} is taken",
                reason="DEFINITION_NAME_TAKEN",
                resource_type="aura.orchestrator.v1.WorkflowDefinition",
                resource_name=compiled.name,
            )
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
        self._deleted.discard(compiled.name)
        return compiled

    async def delete(self, name_or_id: str, *, scope: TenantScope) -> None:
        """Deletes a user-defined definition; FAILED_PRECONDITION for a seed or while a
        run of it is unfinished. New runs of it are refused from the moment this starts."""
        compiled = self.get(name_or_id, scope=scope)
        name = compiled.name
        if name in self._seeds:
            raise FailedPrecondition(
                f"workflow definition {name} ships with the orchestrator and cannot be deleted",
                reason="SEED_DEFINITION",
                resource_type="aura.orchestrator.v1.WorkflowDefinition",
                resource_name=name,
            )
        # Out of the catalog first: the store's check for unfinished runs then runs after
        # every creation queued before it, and no new one can follow.
        del self._compiled[name]
        self._deleted.add(name)
        try:
            await self._store.delete_definition(name)
        except BaseException:
            self._deleted.discard(name)
            self._compiled.setdefault(name, compiled)
            raise


def _visible(compiled: CompiledWorkflow, scope: TenantScope) -> bool:
    """Seeds (no tenant) are every tenant's; a created definition is its tenant's only."""
    owner = compiled.definition.tenant
    return not owner or scope.admits(owner)
