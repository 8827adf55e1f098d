"""Helpers for resume tests: a pool that fails chosen steps, a run's uncrashed history,
resuming a crashed prefix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aura.orchestrator.v1 import run_pb2
from mock_services.common.faults import FAULT_HEADER
from mock_services.mesh import MockMesh
from orchestrator.engine import DefinitionCatalog, Engine, RunSpec
from orchestrator.mesh import Answer, BackendPool
from orchestrator.runs import EVERY_TENANT
from orchestrator.store import SqliteRunStore
from tests.integration.orchestrator_helpers import STYLE_INPUT, struct

IDEMPOTENCY_KEY_HEADER = "aura-idempotency-key"


class StepFaultPool(BackendPool):
    """The real pool; each call carries the mock's `aura-fault` header chosen for its
    step (the idempotency key names it), so one step fails while steps calling the same
    service answer."""

    def __init__(
        self, mesh: MockMesh, faults: Mapping[str, str], default: str = "", **options: Any
    ) -> None:
        addresses = {service: [address] for service, address in mesh.addresses().items()}
        super().__init__(addresses, **options)
        self.faults = dict(faults)
        self.default = default

    async def invoke(self, *, metadata: Sequence[tuple[str, str]] = (), **call: Any) -> Answer:
        step_id = dict(metadata).get(IDEMPOTENCY_KEY_HEADER, "").rpartition("/")[2]
        fault = self.faults.get(step_id, self.default)
        if fault:
            metadata = (*metadata, (FAULT_HEADER, fault))
        return await super().invoke(metadata=metadata, **call)


def outcome(run: run_pb2.WorkflowRun) -> tuple[object, ...]:
    """What a client sees of a finished run, times and attempt counts aside."""
    return (
        run_pb2.RunState.Name(run.state),
        run.error,
        [(s.step_id, run_pb2.StepState.Name(s.state), s.error, s.skip_reason) for s in run.steps],
    )


async def uncrashed_history(
    pool: BackendPool, catalog: DefinitionCatalog, path: Path, definition: str
) -> list[run_pb2.RunEvent]:
    async with SqliteRunStore(path) as store:
        engine = Engine(store, pool, catalog)
        run, _ = await engine.start_run(RunSpec(definition, struct(STYLE_INPUT)))
        await engine.wait_finished(run.name)
        return await store.read_events(run.name, scope=EVERY_TENANT)


async def resume_prefix(
    pool: BackendPool, catalog: DefinitionCatalog, path: Path, prefix: Sequence[run_pb2.RunEvent]
) -> tuple[run_pb2.WorkflowRun, list[run_pb2.RunEvent]]:
    """Resumes the run a crash left with `prefix` committed; returns it finished, and its
    history."""
    async with SqliteRunStore(path) as store:
        await store_prefix(store, prefix)
        engine = Engine(store, pool, catalog)
        assert await engine.resume_unfinished() == [prefix[0].run]
        run = await asyncio.wait_for(engine.wait_finished(prefix[0].run), timeout=20)
        return run, await store.read_events(run.name, scope=EVERY_TENANT)


async def store_prefix(store: SqliteRunStore, prefix: Sequence[run_pb2.RunEvent]) -> None:
    await store.create_run(prefix[0], request_id="", fingerprint="crashed")
    if len(prefix) > 1:
        await store.append(prefix[1:])
