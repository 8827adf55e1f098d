"""A workflow definition after compilation: steps with precompiled wiring,
conditions, timeouts and retry policies, and the dependency graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx
from google.protobuf.message import Message

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.resilience import RetrySpec
from orchestrator.workflows.conditions import CompiledCondition
from orchestrator.workflows.fallbacks import CompensationCall, Fallback
from orchestrator.workflows.registry import MethodInfo
from orchestrator.workflows.triggers import CompiledTrigger
from orchestrator.workflows.wiring import FieldBinding

DEFAULT_RUN_TIMEOUT_S = 60.0
DEFAULT_STEP_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 3600.0


@dataclass(frozen=True, eq=False)
class CompiledStep:
    """One step, ready to run: building its request does no parsing."""

    id: str
    index: int
    """Position in the definition."""
    method: MethodInfo
    deps: frozenset[str]
    """Steps that must finish first: those wired into inputs or the condition, and depends_on."""
    optional: bool
    timeout_s: float
    retry: RetrySpec
    retry_declared: bool = True
    """False when the definition gave no retry policy: the service's default applies."""
    cache_ttl_s: float | None = None
    """Set when the step opted into the response cache (idempotent reads only)."""
    description: str = ""
    bindings: tuple[FieldBinding, ...] = field(default=(), repr=False)
    """Applied in order: shorter target paths first, so "profile.occasion" overrides "profile"."""
    condition: CompiledCondition | None = field(default=None, repr=False)
    optional_deps: frozenset[str] = frozenset()
    """The deps the step can do without: read only through optional inputs or by its
    fallback. One that fails or is skipped does not skip this step."""
    fallback: Fallback | None = field(default=None, repr=False)
    """What answers when the step's service is unavailable."""
    compensation: CompensationCall | None = field(default=None, repr=False)
    """What undoes the step when a later required step fails."""

    @cached_property
    def required_deps(self) -> frozenset[str]:
        """The deps that must succeed for the step to run (asked at every step start)."""
        return self.deps - self.optional_deps

    def build_request(
        self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]
    ) -> Message:
        """The request for this step.

        `run_input` is the run input as plain JSON values (`MessageToDict` of the
        Struct); `outputs` holds the responses of finished steps by id. Raises
        StepInputError when a run input value cannot become its field.
        """
        request = self.method.request_class()
        for binding in self.bindings:
            binding.apply(request, run_input, outputs)
        return request

    def should_run(self, run_input: Mapping[str, Any], outputs: Mapping[str, Message]) -> bool:
        """Whether the step's condition holds; True for a step without one."""
        return self.condition is None or self.condition.holds(run_input, outputs)


@dataclass(frozen=True)
class CompiledTransaction:
    """A TransactionGroup: its steps prepare in parallel and commit or abort together."""

    id: str
    steps: tuple[str, ...]
    """Branch step ids, in group order."""
    prepare_timeout_s: float = 5.0


@dataclass(frozen=True, eq=False)
class CompiledWorkflow:
    """A validated workflow: its steps in definition order and their DAG."""

    name: str
    """"workflowDefinitions/{id}"."""
    definition: workflow_pb2.WorkflowDefinition
    """The definition as authored (defaults not filled in)."""
    steps: dict[str, CompiledStep]
    graph: nx.DiGraph[str]
    """Edge a -> b means b depends on a."""
    topological_order: tuple[str, ...]
    """Dependencies first; ties in definition order."""
    timeout_s: float
    required_inputs: tuple[str, ...]
    triggers: tuple[CompiledTrigger, ...] = ()
    """The events that start a run of it (WorkflowDefinition.triggers)."""
    transactions: Mapping[str, CompiledTransaction] = field(default_factory=dict)
    """Group id -> its transaction (TransactionGroup), in definition order."""

    @cached_property
    def transaction_of(self) -> Mapping[str, CompiledTransaction]:
        """Step id -> the transaction it is a branch of (steps of no group are absent)."""
        return {step: group for group in self.transactions.values() for step in group.steps}

    @property
    def definition_id(self) -> str:
        return self.name.rpartition("/")[2]

    def check_input(self, run_input: Mapping[str, Any]) -> None:
        """Raise InvalidArgument naming every required input key that is missing or null."""
        violations = [
            FieldViolation(f"input.{key}", f'required input "{key}" is missing')
            for key in self.required_inputs
            if run_input.get(key) is None
        ]
        if violations:
            raise InvalidArgument(
                f"{self.name} needs input {', '.join(v.field for v in violations)}",
                reason="MISSING_WORKFLOW_INPUT",
                violations=violations,
            )

    def critical_path_s(self) -> float:
        """The longest chain of step timeouts: a bound on a run's duration when
        every step takes one attempt."""
        finish: dict[str, float] = {}
        for step_id in self.topological_order:
            step = self.steps[step_id]
            start = max((finish[dep] for dep in step.deps), default=0.0)
            finish[step_id] = start + step.timeout_s
        return max(finish.values(), default=0.0)
