"""Checks a WorkflowDefinition against the method descriptors and compiles it
into a CompiledWorkflow. Runs once, at registration; every problem found is
reported together as one INVALID_ARGUMENT with a field violation each."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final

import networkx as nx

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument, ViolationCollector, echo, shorten
from orchestrator.names import DEFINITION_NAME_PATTERN
from orchestrator.workflows.compiled import (
    DEFAULT_RUN_TIMEOUT_S,
    CompiledStep,
    CompiledWorkflow,
)
from orchestrator.workflows.method_check import check_method
from orchestrator.workflows.policies import check_timeout
from orchestrator.workflows.references import ID_PATTERN, INPUT_KEY_PATTERN
from orchestrator.workflows.registry import MethodInfo, MethodRegistry
from orchestrator.workflows.step_compiler import MAX_STEP_ID_LENGTH, WorkflowScope, compile_step
from orchestrator.workflows.transactions import compile_transactions
from orchestrator.workflows.triggers import compile_triggers

INVALID_DEFINITION_REASON: Final = "INVALID_WORKFLOW_DEFINITION"
NAME_PATTERN: Final = DEFINITION_NAME_PATTERN
#: "workflowDefinitions/" and an id of at most 63 characters.
MAX_NAME_LENGTH: Final = 83
#: WorkflowDefinition.max_concurrent_runs: 0 (no limit) up to this.
MAX_CONCURRENT_RUNS: Final = 100_000


def compile_workflow(
    definition: workflow_pb2.WorkflowDefinition, registry: MethodRegistry
) -> CompiledWorkflow:
    """Validate `definition` and compile it; InvalidArgument (reason
    INVALID_WORKFLOW_DEFINITION) lists every problem."""
    authored = workflow_pb2.WorkflowDefinition()
    authored.CopyFrom(definition)
    collector = ViolationCollector()

    _check_name(authored.name, collector)
    timeout_s = check_timeout(
        authored.timeout if authored.HasField("timeout") else None,
        DEFAULT_RUN_TIMEOUT_S,
        "timeout",
        "workflow",
        collector,
    )
    required_inputs = _check_required_inputs(authored.required_inputs, collector)
    if not 0 <= authored.max_concurrent_runs <= MAX_CONCURRENT_RUNS:
        collector.add(
            "max_concurrent_runs",
            f"max_concurrent_runs must be 0 (no limit) to {MAX_CONCURRENT_RUNS}, "
            f"not {authored.max_concurrent_runs}",
        )
    if not authored.steps:
        collector.add("steps", "a workflow needs at least one step")
    triggers = compile_triggers(authored.name, authored.triggers, collector)

    scope = WorkflowScope(methods={}, collector=collector, registry=registry)
    first_index: dict[str, int] = {}
    step_methods: list[MethodInfo | None] = []
    for index, step in enumerate(authored.steps):
        step_methods.append(_check_method(index, step, registry, collector))
        if _check_id(index, step, first_index, collector):
            first_index[step.id] = index
            scope.methods[step.id] = step_methods[index]

    steps: dict[str, CompiledStep] = {}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(first_index)  # edge a -> b: b depends on a
    for index, step in enumerate(authored.steps):
        compiled, deps = compile_step(index, step, step_methods[index], scope)
        if first_index.get(step.id) != index:
            continue  # a step without a usable id is reported, not placed
        graph.add_edges_from((dep, step.id) for dep in sorted(deps, key=first_index.__getitem__))
        if compiled is not None:
            steps[step.id] = compiled

    _check_cycles(graph, first_index, collector)
    if not scope.dangling:
        _check_connected(_with_transaction_links(graph, authored), first_index, collector)
    transactions = compile_transactions(authored, steps, graph, collector)

    if collector.violations:
        count = len(collector.violations)
        raise InvalidArgument(
            f"workflow definition {shorten(authored.name, 96) or '(unnamed)'} is invalid: "
            f"{collector.violations[0].description}"
            + (f" (and {count - 1} more)" if count > 1 else ""),
            reason=INVALID_DEFINITION_REASON,
            violations=collector.violations,
            resource_type="WorkflowDefinition",
            resource_name=shorten(authored.name, 96),
        )
    order = tuple(nx.lexicographical_topological_sort(graph, key=lambda s: first_index[s]))
    return CompiledWorkflow(
        name=authored.name,
        definition=authored,
        steps=steps,
        graph=graph,
        topological_order=order,
        timeout_s=timeout_s,
        required_inputs=required_inputs,
        transactions=transactions,
        triggers=triggers,
    )


def _check_name(name: str, collector: ViolationCollector) -> None:
    if not name:
        collector.add("name", "name is required: workflowDefinitions/{definition_id}")
    elif len(name) > MAX_NAME_LENGTH:
        collector.add("name", f"name {echo(name)} is longer than {MAX_NAME_LENGTH} characters")
    elif not NAME_PATTERN.fullmatch(name):
        collector.add(
            "name", f'name "{name}" must match workflowDefinitions/[a-z][a-z0-9_]{{0,62}}'
        )


def _check_required_inputs(keys: Sequence[str], collector: ViolationCollector) -> tuple[str, ...]:
    seen: set[str] = set()
    for position, key in enumerate(keys):
        path = f"required_inputs[{position}]"
        if not INPUT_KEY_PATTERN.fullmatch(key):
            collector.add(
                path, f'required input "{key}" must be a key matching {INPUT_KEY_PATTERN.pattern}'
            )
        elif key in seen:
            collector.add(path, f'required input "{key}" is listed twice')
        seen.add(key)
    return tuple(dict.fromkeys(keys))


def _check_id(
    index: int,
    step: workflow_pb2.WorkflowStep,
    first_index: dict[str, int],
    collector: ViolationCollector,
) -> bool:
    """True when the id is well-formed and not taken by an earlier step."""
    path = f"steps[{index}].id"
    if not step.id:
        collector.add(path, f"steps[{index}]: id is required")
    elif len(step.id) > MAX_STEP_ID_LENGTH:
        collector.add(
            path,
            f"steps[{index}]: id {echo(step.id)} is longer than {MAX_STEP_ID_LENGTH} characters",
        )
    elif not ID_PATTERN.fullmatch(step.id):
        collector.add(path, f'step "{step.id}": id must match {ID_PATTERN.pattern}')
    elif step.id in first_index:
        collector.add(
            path, f'step "{step.id}": id is already used by steps[{first_index[step.id]}]'
        )
    else:
        return True
    return False


def _check_method(
    index: int,
    step: workflow_pb2.WorkflowStep,
    registry: MethodRegistry,
    collector: ViolationCollector,
) -> MethodInfo | None:
    label = f'step "{step.id}"' if 0 < len(step.id) <= MAX_STEP_ID_LENGTH else f"steps[{index}]"
    return check_method(step.method, f"steps[{index}].method", label, registry, collector)


def _check_cycles(
    graph: nx.DiGraph[str], first_index: dict[str, int], collector: ViolationCollector
) -> None:
    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    for component in sorted(components, key=lambda c: min(first_index[s] for s in c)):
        edges = nx.find_cycle(graph.subgraph(component))
        cycle = [edge[0] for edge in edges]
        start = cycle.index(min(cycle, key=first_index.__getitem__))
        cycle = cycle[start:] + cycle[:start]
        names = " -> ".join(f'"{s}"' for s in [*cycle, cycle[0]])
        collector.add(f"steps[{first_index[cycle[0]]}]", f"steps form a dependency cycle: {names}")


def _with_transaction_links(
    graph: nx.DiGraph[str], definition: workflow_pb2.WorkflowDefinition
) -> nx.DiGraph[str]:
    """The graph plus a link between the steps of each transaction group: steps that
    commit together belong together, though no data flows between them."""
    linked = graph.copy()
    for group in definition.transactions:
        members = [step for step in group.steps if step in graph]
        linked.add_edges_from(itertools.pairwise(members))
    return linked


def _check_connected(
    graph: nx.DiGraph[str], first_index: dict[str, int], collector: ViolationCollector
) -> None:
    components = list(nx.weakly_connected_components(graph))
    if len(components) < 2:
        return
    main = max(components, key=lambda c: (len(c), -min(first_index[s] for s in c)))
    anchor = min(main, key=first_index.__getitem__)
    strays = sorted(
        (s for c in components if c is not main for s in c), key=first_index.__getitem__
    )
    for step_id in strays:
        collector.add(
            f"steps[{first_index[step_id]}]",
            f'step "{step_id}" is unreachable from the rest of the workflow: no input, '
            f'condition or depends_on connects it to step "{anchor}" and the steps around it',
        )
