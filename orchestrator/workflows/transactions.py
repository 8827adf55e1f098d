"""Checks of a definition's transaction groups (two-phase commit) and their compilation.

The steps of a group prepare in parallel once all of them are ready, so a group step may
not depend on another step of its group, and nothing may keep one of them from starting
while the others wait: no step of a group is optional or conditional, and each depends
only on required, unconditional steps. A branch is a plain call with its own effect held
by the participant, so caching, fallbacks and compensations do not apply to it.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import ViolationCollector
from orchestrator.workflows.compiled import CompiledStep, CompiledTransaction
from orchestrator.workflows.policies import check_timeout
from orchestrator.workflows.references import ID_PATTERN

DEFAULT_PREPARE_TIMEOUT_S = 5.0


def compile_transactions(
    definition: workflow_pb2.WorkflowDefinition,
    steps: Mapping[str, CompiledStep],
    graph: nx.DiGraph[str],
    collector: ViolationCollector,
) -> dict[str, CompiledTransaction]:
    """Group id -> its CompiledTransaction; every problem goes to `collector`."""
    authored = {step.id: step for step in definition.steps}
    owner: dict[str, str] = {}
    compiled: dict[str, CompiledTransaction] = {}
    for index, group in enumerate(definition.transactions):
        path = f"transactions[{index}]"
        label = f'transaction "{group.id}"'
        if not ID_PATTERN.fullmatch(group.id):
            collector.add(f"{path}.id", f"{path}: id must match {ID_PATTERN.pattern}")
            continue
        if group.id in compiled:
            collector.add(f"{path}.id", f"{label}: id is used by another transaction")
            continue
        if not group.steps:
            collector.add(f"{path}.steps", f"{label}: a transaction needs at least one step")
        timeout_s = check_timeout(
            group.prepare_timeout if group.HasField("prepare_timeout") else None,
            DEFAULT_PREPARE_TIMEOUT_S,
            f"{path}.prepare_timeout",
            label,
            collector,
        )
        members = set(group.steps)
        for position, step_id in enumerate(group.steps):
            where = f"{path}.steps[{position}]"
            if step_id not in authored:
                collector.add(where, f'{label}: unknown step "{step_id}"')
                continue
            if step_id in owner:
                collector.add(
                    where, f'{label}: step "{step_id}" is already in transaction "{owner[step_id]}"'
                )
                continue
            owner[step_id] = group.id
            for problem in _branch_problems(step_id, authored, steps, graph, members):
                collector.add(where, f'{label}: step "{step_id}" {problem}')
        compiled[group.id] = CompiledTransaction(
            id=group.id, steps=tuple(dict.fromkeys(group.steps)), prepare_timeout_s=timeout_s
        )
    return compiled


def _branch_problems(
    step_id: str,
    authored: Mapping[str, workflow_pb2.WorkflowStep],
    steps: Mapping[str, CompiledStep],
    graph: nx.DiGraph[str],
    members: set[str],
) -> list[str]:
    step = authored[step_id]
    problems = []
    if step.optional:
        problems.append("may not be optional: its branch commits or aborts with the others")
    present = {
        "when": step.HasField("when"),
        "cache": step.HasField("cache"),
        "fallback": step.HasField("fallback"),
        "compensation": step.HasField("compensation"),
    }
    for name in (name for name, given in present.items() if given):
        problems.append(f"may not have a {name}: a branch is one held change")
    deps = set(graph.predecessors(step_id)) if step_id in graph else set()
    inside = sorted(deps & members)
    if inside:
        problems.append(f"depends on {', '.join(inside)} of the same transaction")
    for dep in sorted(deps - members):
        dep_step = authored.get(dep)
        compiled = steps.get(dep)
        if dep_step is not None and (dep_step.optional or dep_step.HasField("when")):
            problems.append(
                f'depends on "{dep}", which is optional or conditional: the branch could be '
                "skipped while the others wait"
            )
        elif compiled is not None and step_id in steps and dep in steps[step_id].optional_deps:
            problems.append(f'reads "{dep}" through an optional input')
    return problems
