"""Workflows as data: definitions (YAML/JSON through protobuf's JSON mapping),
the registry of callable gRPC methods, and the compiler that checks a
definition once and turns it into a plan the engine runs without parsing."""

from orchestrator.workflows.compiled import (
    DEFAULT_RUN_TIMEOUT_S,
    DEFAULT_STEP_TIMEOUT_S,
    MAX_TIMEOUT_S,
    CompiledStep,
    CompiledTransaction,
    CompiledWorkflow,
)
from orchestrator.workflows.compiler import INVALID_DEFINITION_REASON, compile_workflow
from orchestrator.workflows.fallbacks import (
    MAX_LAST_GOOD_AGE_S,
    CompensationCall,
    Fallback,
    FallbackMethod,
    LastGoodAnswer,
)
from orchestrator.workflows.json_values import (
    MAX_RUN_INPUT_BYTES,
    MAX_RUN_INPUT_DEPTH,
    run_input_as_json,
    run_input_problems,
    struct_problems,
    value_problems,
)
from orchestrator.workflows.loader import load_definition_file, parse_definition, seed_definitions
from orchestrator.workflows.policies import NEVER_RETRYABLE, duration_problem
from orchestrator.workflows.registry import MethodInfo, MethodRegistry
from orchestrator.workflows.triggers import (
    MAX_TRIGGERS,
    CompiledTrigger,
    EventView,
    compile_triggers,
)
from orchestrator.workflows.wiring import StepInputError

__all__ = [
    "DEFAULT_RUN_TIMEOUT_S",
    "DEFAULT_STEP_TIMEOUT_S",
    "INVALID_DEFINITION_REASON",
    "MAX_LAST_GOOD_AGE_S",
    "MAX_RUN_INPUT_BYTES",
    "MAX_RUN_INPUT_DEPTH",
    "MAX_TIMEOUT_S",
    "MAX_TRIGGERS",
    "NEVER_RETRYABLE",
    "CompensationCall",
    "CompiledStep",
    "CompiledTransaction",
    "CompiledTrigger",
    "CompiledWorkflow",
    "EventView",
    "Fallback",
    "FallbackMethod",
    "LastGoodAnswer",
    "MethodInfo",
    "MethodRegistry",
    "StepInputError",
    "compile_triggers",
    "compile_workflow",
    "duration_problem",
    "load_definition_file",
    "parse_definition",
    "run_input_as_json",
    "run_input_problems",
    "seed_definitions",
    "struct_problems",
    "value_problems",
]
