"""Workflows as data: definitions (YAML/JSON through protobuf's JSON mapping),
the registry of callable gRPC methods, and the compiler that checks a
definition once and turns it into a plan the engine runs without parsing."""

from orchestrator.workflows.compiled import (
    DEFAULT_RETRY,
    DEFAULT_RUN_TIMEOUT_S,
    DEFAULT_STEP_TIMEOUT_S,
    MAX_TIMEOUT_S,
    CompiledStep,
    CompiledWorkflow,
    RetrySpec,
)
from orchestrator.workflows.compiler import INVALID_DEFINITION_REASON, compile_workflow
from orchestrator.workflows.loader import load_definition_file, parse_definition, seed_definitions
from orchestrator.workflows.policies import NEVER_RETRYABLE
from orchestrator.workflows.registry import MethodInfo, MethodRegistry
from orchestrator.workflows.wiring import StepInputError

__all__ = [
    "DEFAULT_RETRY",
    "DEFAULT_RUN_TIMEOUT_S",
    "DEFAULT_STEP_TIMEOUT_S",
    "INVALID_DEFINITION_REASON",
    "MAX_TIMEOUT_S",
    "NEVER_RETRYABLE",
    "CompiledStep",
    "CompiledWorkflow",
    "MethodInfo",
    "MethodRegistry",
    "RetrySpec",
    "StepInputError",
    "compile_workflow",
    "load_definition_file",
    "parse_definition",
    "seed_definitions",
]
