"""A definition's DAG in layers: topological generations as columns, rows within each."""

from __future__ import annotations

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.gateway import layout

NLU = "aura.nlu.v1.NluService/AnalyzeText"


def definition(steps: dict[str, list[str]], method: str = NLU) -> workflow_pb2.WorkflowDefinition:
    """Steps by id with the ids they depend on; each reads input.text."""
    authored = workflow_pb2.WorkflowDefinition(name="workflowDefinitions/shape")
    for step_id, deps in steps.items():
        step = authored.steps.add(id=step_id, method=method)
        step.inputs["text"].ref = "input.text"
        step.depends_on.extend(deps)
    return authored


def placed(drawing: dict[str, object]) -> dict[str, tuple[int, int]]:
    nodes = drawing["nodes"]
    assert isinstance(nodes, list)
    return {node["id"]: (node["layer"], node["row"]) for node in nodes}


def test_a_diamond_has_three_layers_with_its_branches_side_by_side() -> None:
    drawing = layout(definition({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}))
    assert placed(drawing) == {"a": (0, 0), "b": (1, 0), "c": (1, 1), "d": (2, 0)}
    assert (drawing["layers"], drawing["rows"]) == (3, 2)
    assert drawing["edges"] == [
        {"from": "a", "to": "b"},
        {"from": "a", "to": "c"},
        {"from": "b", "to": "d"},
        {"from": "c", "to": "d"},
    ]


def test_a_step_sits_right_of_its_deepest_dependency() -> None:
    shape = definition({"a": [], "b": ["a"], "c": ["b"], "late": ["a", "c"]})
    assert placed(layout(shape))["late"] == (3, 0)


def test_rows_follow_the_parents_so_edges_stay_uncrossed() -> None:
    shape = definition({"x": [], "y": [], "under_y": ["y"], "under_x": ["x"]})
    rows = placed(layout(shape))
    assert rows["under_x"][1] == rows["x"][1]
    assert rows["under_y"][1] == rows["y"][1]


def test_a_definition_this_process_cannot_compile_is_still_drawn_from_what_it_declares() -> None:
    shape = definition({"a": [], "b": ["a"]}, method="unknown.v1.Nothing/Call")
    shape.steps[1].inputs["extra"].ref = "steps.a.field"
    assert placed(layout(shape)) == {"a": (0, 0), "b": (1, 0)}
