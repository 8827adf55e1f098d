"""Step-to-step wiring across scalar kinds, maps and whole responses, on a small
probe service defined here (the AI protos have none of these shapes)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from aura.common.v1 import fashion_pb2
from aura.nlu.v1 import nlu_pb2
from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.workflows import CompiledWorkflow, MethodRegistry, compile_workflow

PROBE_FILE = "aura_test/workflow_probe.proto"
F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "i32": F.TYPE_INT32,
    "i64": F.TYPE_INT64,
    "u32": F.TYPE_UINT32,
    "u64": F.TYPE_UINT64,
    "f32": F.TYPE_FLOAT,
    "f64": F.TYPE_DOUBLE,
    "flag": F.TYPE_BOOL,
    "text": F.TYPE_STRING,
    "data": F.TYPE_BYTES,
}


def _probe_file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name=PROBE_FILE,
        package="aura_test.v1",
        syntax="proto3",
        dependency=["aura/nlu/v1/nlu.proto"],
    )
    probe = file.message_type.add(name="Probe")
    number = 0
    for name, kind in SCALARS.items():
        for suffix, label in (("", F.LABEL_OPTIONAL), ("s", F.LABEL_REPEATED)):
            number += 1
            probe.field.add(name=name + suffix, number=number, type=kind, label=label)
    probe.field.add(
        name="analysis",
        number=100,
        type=F.TYPE_MESSAGE,
        type_name=".aura.nlu.v1.AnalyzeTextResponse",
        label=F.LABEL_OPTIONAL,
    )
    for name, value_type, type_name in (
        ("counts", F.TYPE_INT32, ""),
        ("wide_counts", F.TYPE_INT64, ""),
        ("budgets", F.TYPE_MESSAGE, ".aura.nlu.v1.Budget"),
    ):
        entry_name = "".join(part.title() for part in name.split("_")) + "Entry"
        entry = probe.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, type=value_type, label=F.LABEL_OPTIONAL)
        if type_name:
            value.type_name = type_name
        probe.field.add(
            name=name,
            number=101 + len(probe.nested_type),
            type=F.TYPE_MESSAGE,
            type_name=f".aura_test.v1.Probe.{entry_name}",
            label=F.LABEL_REPEATED,
        )
    service = file.service.add(name="ProbeService")
    service.method.add(
        name="Echo", input_type=".aura_test.v1.Probe", output_type=".aura_test.v1.Probe"
    )
    return file


def _probe_registry() -> tuple[MethodRegistry, type[Message]]:
    pool = descriptor_pool.Default()
    try:
        file = pool.FindFileByName(PROBE_FILE)
    except KeyError:
        file = pool.Add(_probe_file())
    registry = MethodRegistry.default()
    registry.register_file(file)
    return registry, GetMessageClass(file.message_types_by_name["Probe"])


REGISTRY, Probe = _probe_registry()
ECHO = "aura_test.v1.ProbeService/Echo"
NLU = "aura.nlu.v1.NluService/AnalyzeText"


def wire(inputs: dict[str, Any]) -> CompiledWorkflow:
    definition = json_format.ParseDict(
        {
            "name": "workflowDefinitions/probe",
            "steps": [
                {"id": "nlu", "method": NLU},
                {"id": "source", "method": ECHO},
                {"id": "sink", "method": ECHO, "inputs": inputs, "depends_on": ["source", "nlu"]},
            ],
        },
        workflow_pb2.WorkflowDefinition(),
    )
    return compile_workflow(definition, REGISTRY)


def wiring_violation(target: str, source: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        wire({target: {"ref": source}})
    [violation] = caught.value.violations
    assert violation.field == f"steps[2].inputs.{target}"
    return violation.description


@pytest.mark.parametrize(
    ("source", "targets"),
    [
        ("i32", ["i32", "i64", "f32", "f64"]),
        ("u32", ["u32", "u64", "i64", "f32", "f64"]),
        ("i64", ["i64", "f32", "f64"]),
        ("u64", ["u64", "f32", "f64"]),
        ("f32", ["f32", "f64"]),
        ("f64", ["f32", "f64"]),
        ("flag", ["flag"]),
        ("text", ["text"]),
        ("data", ["data"]),
    ],
)
def test_scalars_wire_into_kinds_that_hold_every_value(source: str, targets: list[str]) -> None:
    for target in SCALARS:
        if target in targets:
            wire({target: {"ref": f"steps.source.{source}"}})
            wire({target + "s": {"ref": f"steps.source.{source}s"}})
        else:
            assert "expects" in wiring_violation(target, f"steps.source.{source}")
            assert "expects" in wiring_violation(target + "s", f"steps.source.{source}s")


def test_scalars_are_copied_and_widened_at_run_time() -> None:
    step = wire(
        {
            "i64": {"ref": "steps.source.i32"},
            "f64s": {"ref": "steps.source.i32s"},
            "text": {"ref": "steps.source.text"},
            "data": {"ref": "steps.source.data"},
        }
    ).steps["sink"]
    source = Probe(i32=-7, i32s=[1, 2], text="navy", data=b"\x00\x01")

    request = step.build_request({}, {"source": source})

    assert request == Probe(i64=-7, f64s=[1.0, 2.0], text="navy", data=b"\x00\x01")


def test_maps_wire_into_maps_with_compatible_keys_and_values() -> None:
    step = wire(
        {
            "wide_counts": {"ref": "steps.source.counts"},
            "budgets": {"ref": "steps.source.budgets"},
        }
    ).steps["sink"]
    source = Probe(counts={"navy": 2}, budgets={"shoes": nlu_pb2.Budget()})
    source.budgets["coat"].max_price.units = 300

    request = step.build_request({}, {"source": source})

    assert dict(request.wide_counts) == {"navy": 2}
    assert request.budgets["coat"].max_price == fashion_pb2.Money(units=300)
    assert set(request.budgets) == {"shoes", "coat"}


def test_maps_and_lists_do_not_mix() -> None:
    assert "map<string, int64>" in wiring_violation("counts", "steps.source.wide_counts")
    assert "expects map<string, int32>" in wiring_violation("counts", "steps.source.i32s")
    assert "got map<string, int32>" in wiring_violation("i32s", "steps.source.counts")


def test_a_whole_response_binds_to_a_field_of_its_type() -> None:
    step = wire({"analysis": {"ref": "steps.nlu"}}).steps["sink"]
    analysis = nlu_pb2.AnalyzeTextResponse(intent=nlu_pb2.INTENT_SHOP, style_keywords=["boho"])

    assert step.build_request({}, {"nlu": analysis}) == Probe(analysis=analysis)
    assert "got aura_test.v1.Probe" in wiring_violation("analysis", "steps.source")


def test_a_field_of_a_whole_response_wires_to_the_same_type() -> None:
    step = wire({"analysis.budget": {"ref": "steps.source.analysis.budget"}}).steps["sink"]
    source = Probe()
    source.analysis.budget.max_price.currency_code = "EUR"

    assert step.build_request({}, {"source": source}).analysis.budget.max_price.currency_code == (
        "EUR"
    )
    assert step.build_request({}, {"source": Probe()}) == Probe()  # absent stays absent
