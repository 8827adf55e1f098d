"""Compiles one step of a definition: its inputs into bindings, its condition,
its dependencies, timeout and retry policy. Every problem becomes a field
violation; compilation goes on so that all of them are reported together."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import ViolationCollector
from orchestrator.workflows.compiled import DEFAULT_RETRY, DEFAULT_STEP_TIMEOUT_S, CompiledStep
from orchestrator.workflows.conditions import (
    KNOWN_OPERATORS,
    OPERATORS_WITH_VALUE,
    CompiledCondition,
    ConditionValueError,
    build_input_condition,
    build_step_condition,
)
from orchestrator.workflows.fieldpaths import (
    FieldPath,
    FieldPathError,
    describe_field_type,
    resolve_field_path,
    wiring_problem,
)
from orchestrator.workflows.json_values import value_problems
from orchestrator.workflows.policies import check_cache, check_retry, check_timeout
from orchestrator.workflows.references import (
    ID_PATTERN,
    InputRef,
    Ref,
    RefSyntaxError,
    StepRef,
    parse_ref,
)
from orchestrator.workflows.registry import MethodInfo
from orchestrator.workflows.wiring import (
    FieldBinding,
    InputBinding,
    LiteralBinding,
    StepOutputBinding,
    convert_json_value,
)

MAX_STEP_ID_LENGTH: Final = 63


@dataclass
class WorkflowScope:
    """What a step can see of the others while it is compiled."""

    methods: dict[str, MethodInfo | None]
    """Step id -> its method (None when the method is bad), for every well-formed unique id."""
    collector: ViolationCollector
    dangling: bool = False
    """True once any reference or depends_on entry failed to resolve to a step."""


@dataclass(frozen=True)
class _Source:
    ref: Ref
    path: FieldPath | None = None
    """Resolved field path in the referenced response; None when it could not be checked."""
    response: Descriptor | None = None


@dataclass
class _StepCompiler:
    index: int
    step: workflow_pb2.WorkflowStep
    method: MethodInfo | None
    scope: WorkflowScope
    deps: set[str] = field(default_factory=set)

    @property
    def path(self) -> str:
        return f"steps[{self.index}]"

    @property
    def label(self) -> str:
        if not self.step.id or len(self.step.id) > MAX_STEP_ID_LENGTH:
            return f"steps[{self.index}]"
        return f'step "{self.step.id}"'

    def add(self, path: str, description: str) -> None:
        self.scope.collector.add(path, f"{self.label}: {description}")

    def compile(self) -> CompiledStep | None:
        bindings = [binding for key in sorted(self.step.inputs) if (binding := self._input(key))]
        bindings.sort(key=lambda binding: len(binding.target))
        condition = self._condition() if self.step.HasField("when") else None
        self._depends_on()
        timeout_s = check_timeout(
            self.step.timeout if self.step.HasField("timeout") else None,
            DEFAULT_STEP_TIMEOUT_S,
            f"{self.path}.timeout",
            self.label,
            self.scope.collector,
        )
        retry = DEFAULT_RETRY
        if self.step.HasField("retry"):
            retry = check_retry(
                self.step.retry, f"{self.path}.retry", self.label, self.scope.collector
            )
        cache_ttl_s = None
        if self.step.HasField("cache"):
            cache_ttl_s = check_cache(
                self.step.cache, f"{self.path}.cache", self.label, self.scope.collector
            )
        if self.method is None:
            return None
        return CompiledStep(
            id=self.step.id,
            index=self.index,
            method=self.method,
            deps=frozenset(self.deps),
            optional=self.step.optional,
            timeout_s=timeout_s,
            retry=retry,
            retry_declared=self.step.HasField("retry"),
            cache_ttl_s=cache_ttl_s,
            description=self.step.description,
            bindings=tuple(bindings),
            condition=condition,
        )

    # --- inputs ---------------------------------------------------------------------------

    def _input(self, key: str) -> FieldBinding | None:
        source = self.step.inputs[key]
        path = f"{self.path}.inputs.{key}"
        what = f'field "{key}"'
        target = self._target(key, path, what)
        kind = source.WhichOneof("source")
        if kind is None:
            self.add(path, f"{what} needs a ref or a value")
            return None
        if kind == "value":
            return self._literal(key, source, target, path, what)
        resolved = self._resolve(source.ref, path, what)
        if resolved is None or target is None:
            return None
        if isinstance(resolved.ref, InputRef):
            return InputBinding(key, target, self.step.id, resolved.ref.keys)
        if resolved.path is None or resolved.response is None:
            return None  # the referenced step's own problems are reported there
        problem = self._wiring_problem(resolved, target)
        if problem:
            self.add(path, f"{what} takes {resolved.ref.text}: {problem}")
            return None
        return StepOutputBinding(key, target, resolved.ref.step_id, resolved.path)

    def _target(self, key: str, path: str, what: str) -> FieldPath | None:
        if self.method is None:
            return None
        try:
            return resolve_field_path(self.method.descriptor.input_type, key)
        except FieldPathError as error:
            self.add(path, f"{what} is not a request field: {error}")
            return None

    def _literal(
        self,
        key: str,
        source: workflow_pb2.FieldSource,
        target: FieldPath | None,
        path: str,
        what: str,
    ) -> FieldBinding | None:
        problems = list(value_problems(source.value, path))
        for problem in problems:
            self.add(problem.field, f"{what}: {problem.description}")
        if target is None or problems:
            return None
        literal = json_format.MessageToDict(source.value)
        try:
            scratch = convert_json_value(target[-1], literal)
        except (json_format.ParseError, ValueError, TypeError) as error:
            self.add(
                path,
                f"{what} ({describe_field_type(target[-1])}) cannot take the value "
                f"{json.dumps(literal)}: {error}",
            )
            return None
        return LiteralBinding(key, target, scratch)

    @staticmethod
    def _wiring_problem(source: _Source, target: FieldPath) -> str | None:
        assert source.path is not None and source.response is not None
        leaf = target[-1]
        if source.path:
            return wiring_problem(source.path[-1], leaf)
        whole = source.response.full_name
        if not leaf.is_repeated and leaf.message_type and leaf.message_type.full_name == whole:
            return None
        return f"expects {describe_field_type(leaf)}, got {whole}"

    # --- references -----------------------------------------------------------------------

    def _resolve(self, text: str, path: str, what: str) -> _Source | None:
        """Parse and check a reference; a referenced step becomes a dependency."""
        try:
            ref = parse_ref(text)
        except RefSyntaxError as error:
            self.add(path, f"{what}: bad reference: {error}")
            self.scope.dangling = True
            return None
        if isinstance(ref, InputRef):
            return _Source(ref)
        if not self._depend(ref.step_id, path, f"{what} references"):
            return None
        method = self.scope.methods[ref.step_id]
        if method is None:
            return _Source(ref)
        response = method.descriptor.output_type
        if not ref.path:
            return _Source(ref, (), response)
        try:
            return _Source(ref, resolve_field_path(response, ref.path), response)
        except FieldPathError as error:
            self.add(path, f"{what}: {ref.text} is not a response field: {error}")
            return _Source(ref)

    def _depend(self, step_id: str, path: str, verb: str) -> bool:
        if step_id == self.step.id:
            self.add(path, f"{verb} the step itself")
            return False
        if step_id not in self.scope.methods:
            self.add(path, f'{verb} unknown step "{step_id}"')
            self.scope.dangling = True
            return False
        self.deps.add(step_id)
        return True

    def _depends_on(self) -> None:
        for position, step_id in enumerate(self.step.depends_on):
            path = f"{self.path}.depends_on[{position}]"
            if not ID_PATTERN.fullmatch(step_id):
                self.add(path, f'depends_on "{step_id}" is not a step id')
                self.scope.dangling = True
            else:
                self._depend(step_id, path, "depends on")

    # --- condition ------------------------------------------------------------------------

    def _condition(self) -> CompiledCondition | None:
        when = self.step.when
        path = f"{self.path}.when"
        resolved = None
        if not when.ref:
            self.add(f"{path}.ref", "the condition needs a ref")
        else:
            resolved = self._resolve(when.ref, f"{path}.ref", "condition")
        op_known = when.op in KNOWN_OPERATORS
        if not op_known:
            self.add(f"{path}.op", f"the condition needs an operator, got {when.op}")
        has_value = when.HasField("value")
        if has_value:
            problems = list(value_problems(when.value, f"{path}.value"))
            for problem in problems:
                self.add(problem.field, f"condition: {problem.description}")
            if problems:
                return None
        if op_known and when.op in OPERATORS_WITH_VALUE and not has_value:
            name = workflow_pb2.Condition.Operator.Name(when.op)
            self.add(f"{path}.value", f"the condition's operator {name} needs a value")
            return None
        if resolved is None or not op_known:
            return None
        value = when.value if has_value else None
        try:
            if isinstance(resolved.ref, StepRef):
                if resolved.path is None or resolved.response is None:
                    return None
                return build_step_condition(
                    resolved.ref, when.op, value, resolved.path, resolved.response
                )
            return build_input_condition(resolved.ref, when.op, value)
        except ConditionValueError as error:
            self.add(f"{path}.{error.field}", f"condition: {error}")
            return None


def compile_step(
    index: int, step: workflow_pb2.WorkflowStep, method: MethodInfo | None, scope: WorkflowScope
) -> tuple[CompiledStep | None, frozenset[str]]:
    """The compiled step (None when its method is unusable; every problem is in
    `scope.collector`) and the ids of the steps it depends on."""
    compiler = _StepCompiler(index, step, method, scope)
    compiled = compiler.compile()
    return compiled, frozenset(compiler.deps)
