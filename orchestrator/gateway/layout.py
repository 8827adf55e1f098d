"""A workflow definition's DAG laid out in layers, for the console to draw.

The layers are the DAG's topological generations: a step sits one layer right of the
deepest step it depends on. Within a layer, steps are ordered by the mean position of
their dependencies (the barycenter heuristic, one sweep), which keeps most edges short
and uncrossed, ties in definition order.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.workflows import MethodRegistry, compile_workflow

_REGISTRY: MethodRegistry | None = None


def dependency_graph(definition: workflow_pb2.WorkflowDefinition) -> nx.DiGraph[str]:
    """Edge a -> b: b depends on a, as the compiler sees it (inputs wired from a step's
    output, conditions, depends_on). A definition this process cannot compile (a method
    its stubs do not know) falls back to depends_on and the "steps.<id>" references."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = MethodRegistry.default()
    try:
        return compile_workflow(definition, _REGISTRY).graph
    except Exception:  # any invalid definition still gets a drawing
        return _declared_graph(definition)


def _declared_graph(definition: workflow_pb2.WorkflowDefinition) -> nx.DiGraph[str]:
    graph: nx.DiGraph[str] = nx.DiGraph()
    ids = [step.id for step in definition.steps]
    graph.add_nodes_from(ids)
    for step in definition.steps:
        refs = [source.ref for source in step.inputs.values() if source.WhichOneof("source")]
        refs.append(step.when.ref)
        deps = set(step.depends_on)
        deps.update(ref.split(".")[1] for ref in refs if ref.startswith("steps.") and "." in ref)
        graph.add_edges_from((dep, step.id) for dep in deps if dep in graph and dep != step.id)
    return graph


def layout(definition: workflow_pb2.WorkflowDefinition) -> dict[str, Any]:
    """{"nodes": [{"id", "method", "layer", "row", "optional"}], "edges": [{"from", "to"}],
    "layers": n, "rows": m}: each node's column (layer) and row within it."""
    graph = dependency_graph(definition)
    order = {step.id: index for index, step in enumerate(definition.steps)}
    try:
        generations = [list(layer) for layer in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:  # a cycle: one column, definition order
        generations = [list(graph.nodes)]
    row_of: dict[str, float] = {}
    layer_of: dict[str, int] = {}
    for number, layer in enumerate(generations):

        def weight(step_id: str) -> tuple[float, int]:
            parents = [row_of[p] for p in graph.predecessors(step_id) if p in row_of]
            mean = sum(parents) / len(parents) if parents else float(order.get(step_id, 0))
            return mean, order.get(step_id, 0)

        for row, step_id in enumerate(sorted(layer, key=weight)):
            row_of[step_id] = float(row)
            layer_of[step_id] = number
    steps = {step.id: step for step in definition.steps}
    nodes = [
        {
            "id": step_id,
            "method": steps[step_id].method if step_id in steps else "",
            "optional": bool(steps[step_id].optional) if step_id in steps else False,
            "layer": layer_of[step_id],
            "row": int(row_of[step_id]),
        }
        for step_id in sorted(layer_of, key=lambda s: (layer_of[s], row_of[s]))
    ]
    edges = [{"from": a, "to": b} for a, b in sorted(graph.edges)]
    return {
        "nodes": nodes,
        "edges": edges,
        "layers": len(generations),
        "rows": max((len(layer) for layer in generations), default=0),
    }
