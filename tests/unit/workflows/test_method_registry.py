"""The method registry: which gRPC methods a workflow step can name."""

from __future__ import annotations

from grpc_health.v1 import health_pb2

from aura.nlu.v1 import nlu_pb2
from aura.style.v1 import style_pb2
from orchestrator.workflows import MethodInfo, MethodRegistry

AURA_SERVICES = [
    "aura.combination.v1.CombinationEngineService",
    "aura.image.v1.ImageProcessingService",
    "aura.nlu.v1.NluService",
    "aura.recommendation.v1.RecommendationEngineService",
    "aura.style.v1.StyleProfileService",
]


def test_default_registry_holds_every_service_of_the_five_ai_packages() -> None:
    assert MethodRegistry.default().services() == AURA_SERVICES


def test_default_registry_leaves_out_the_orchestrators_own_api() -> None:
    registry = MethodRegistry.default()

    assert registry.resolve("aura.orchestrator.v1.OrchestratorService/StartWorkflowRun") is None
    assert all(not name.startswith("aura.orchestrator.") for name in registry.services())


def test_resolve_gives_the_call_path_and_message_classes() -> None:
    info = MethodRegistry.default().resolve("aura.nlu.v1.NluService/AnalyzeText")

    assert info == MethodInfo(
        full_name="aura.nlu.v1.NluService/AnalyzeText",
        path="/aura.nlu.v1.NluService/AnalyzeText",
        service="aura.nlu.v1.NluService",
        request_class=nlu_pb2.AnalyzeTextRequest,
        response_class=nlu_pb2.AnalyzeTextResponse,
        descriptor=nlu_pb2.DESCRIPTOR.services_by_name["NluService"].methods_by_name["AnalyzeText"],
    )
    assert info.unary


def test_every_method_of_a_service_is_registered() -> None:
    registry = MethodRegistry.default()

    for method in style_pb2.DESCRIPTOR.services_by_name["StyleProfileService"].methods:
        assert f"aura.style.v1.StyleProfileService/{method.name}" in registry


def test_unknown_names_resolve_to_none() -> None:
    registry = MethodRegistry.default()

    assert registry.resolve("aura.nlu.v1.NluService/Translate") is None
    assert registry.resolve("/aura.nlu.v1.NluService/AnalyzeText") is None
    assert registry.resolve("") is None


def test_streaming_methods_are_known_but_flagged_as_not_unary() -> None:
    registry = MethodRegistry()
    registry.register_file(health_pb2.DESCRIPTOR)

    watch = registry.resolve("grpc.health.v1.Health/Watch")
    check = registry.resolve("grpc.health.v1.Health/Check")

    assert watch is not None and not watch.unary
    assert check is not None and check.unary
    assert registry.services() == ["grpc.health.v1.Health"]
