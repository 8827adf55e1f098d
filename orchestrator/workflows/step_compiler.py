"""Compiles one step of a definition: its inputs into bindings, its condition,
its dependencies, timeout and retry policy. Every problem becomes a field
violation; compilation goes on so that all of them are reported together."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import ViolationCollector
from orchestrator.resilience import DEFAULT_RETRY
from orchestrator.workflows.compiled import DEFAULT_STEP_TIMEOUT_S, CompiledStep
from orchestrator.workflows.conditions import (
    KNOWN_OPERATORS,
    OPERATORS_WITH_VALUE,
    CompiledCondition,
    ConditionValueError,
    build_input_condition,
    build_step_condition,
)
from orchestrator.workflows.fallbacks import (
    MAX_LAST_GOOD_AGE_S,
    CompensationCall,
    Fallback,
    FallbackMethod,
    LastGoodAnswer,
    response_shape_problem,
)
from orchestrator.workflows.fieldpaths import (
    FieldPath,
    FieldPathError,
    describe_field_type,
    resolve_field_path,
    wiring_problem,
)
from orchestrator.workflows.json_values import value_problems
from orchestrator.workflows.method_check import check_method
from orchestrator.workflows.policies import (
    check_bounded_duration,
    check_cache,
    check_retry,
    check_timeout,
)
from orchestrator.workflows.references import (
    ID_PATTERN,
    InputRef,
    Ref,
    RefSyntaxError,
    StepRef,
    parse_ref,
)
from orchestrator.workflows.registry import MethodInfo, MethodRegistry
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
    registry: MethodRegistry | None = None
    """Where fallback methods are looked up."""
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
    required: set[str] = field(default_factory=set)
    """The deps whose failure or skip skips the step (not only optional or fallback reads)."""
    compensating: bool = False
    """True while the compensation's inputs are compiled: they read the run input and the
    step's own response only, and add no dependency."""

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
        request_type = self.method.descriptor.input_type if self.method else None
        bindings = self._bindings(self.step.inputs, request_type, self.path, primary=True)
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
        fallback = self._fallback(timeout_s) if self.step.HasField("fallback") else None
        compensation = None
        if self.step.HasField("compensation"):
            compensation = self._compensation(timeout_s)
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
            optional_deps=frozenset(self.deps - self.required),
            fallback=fallback,
            compensation=compensation,
        )

    # --- inputs ---------------------------------------------------------------------------

    def _bindings(
        self,
        inputs: Mapping[str, workflow_pb2.FieldSource],
        request_type: Descriptor | None,
        prefix: str,
        *,
        primary: bool,
    ) -> list[FieldBinding]:
        """Bindings in the order they apply: shorter target paths first."""
        bindings = [
            binding
            for key in sorted(inputs)
            if (binding := self._input(key, inputs[key], request_type, prefix, primary=primary))
        ]
        bindings.sort(key=lambda binding: len(binding.target))
        return bindings

    def _input(
        self,
        key: str,
        source: workflow_pb2.FieldSource,
        request_type: Descriptor | None,
        prefix: str,
        *,
        primary: bool,
    ) -> FieldBinding | None:
        """`primary`: an input of the step's own request (not of its fallback's)."""
        path = f"{prefix}.inputs.{key}"
        what = f'field "{key}"'
        target = self._target(key, request_type, path, what)
        kind = source.WhichOneof("source")
        if kind is None:
            self.add(path, f"{what} needs a ref or a value")
            return None
        has_default = source.HasField("default_value")
        step_ref = kind == "ref" and source.ref.startswith("steps.")
        if (source.optional or has_default) and not step_ref:
            field_name = "default_value" if has_default else "optional"
            self.add(
                f"{path}.{field_name}",
                f"{what}: {field_name} applies to step references (steps.<id>...) only; "
                "a missing run input already leaves the field unset",
            )
            return None
        if kind == "value":
            return self._literal(key, source, target, path, what)
        required = primary and not (source.optional or has_default)
        resolved = self._resolve(source.ref, path, what, required=required)
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
        default = None
        if has_default:
            default = self._converted(
                source.default_value, target, f"{path}.default_value", what, "default"
            )
            if default is None:
                return None
        return StepOutputBinding(key, target, resolved.ref.step_id, resolved.path, default)

    def _converted(
        self,
        value: struct_pb2.Value,
        target: FieldPath | None,
        path: str,
        what: str,
        kind: str,
    ) -> Message | None:
        """`value` as the target field's type; None, with the problems added, if it is not
        one. `kind` names it in messages: "value" (a literal) or "default"."""
        problems = list(value_problems(value, path))
        prefix = "default_value: " if kind == "default" else ""
        for problem in problems:
            self.add(problem.field, f"{what}: {prefix}{problem.description}")
        if target is None or problems:
            return None
        literal = json_format.MessageToDict(value)
        try:
            return convert_json_value(target[-1], literal)
        except (json_format.ParseError, ValueError, TypeError) as error:
            self.add(
                path,
                f"{what} ({describe_field_type(target[-1])}) cannot take the {kind} "
                f"{json.dumps(literal)}: {error}",
            )
            return None

    def _target(
        self, key: str, request_type: Descriptor | None, path: str, what: str
    ) -> FieldPath | None:
        if request_type is None:
            return None
        try:
            return resolve_field_path(request_type, key)
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
        scratch = self._converted(source.value, target, path, what, "value")
        if target is None or scratch is None:
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

    def _resolve(self, text: str, path: str, what: str, *, required: bool = True) -> _Source | None:
        """Parse and check a reference; a referenced step becomes a dependency (one
        whose failure skips this step when `required`)."""
        try:
            ref = parse_ref(text)
        except RefSyntaxError as error:
            self.add(path, f"{what}: bad reference: {error}")
            self.scope.dangling = True
            return None
        if isinstance(ref, InputRef):
            return _Source(ref)
        if not self._depend(ref.step_id, path, f"{what} references", required=required):
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

    def _depend(self, step_id: str, path: str, verb: str, *, required: bool = True) -> bool:
        if self.compensating:
            if step_id != self.step.id:
                self.add(
                    path,
                    f"{verb} another step; a compensation reads only the run "
                    "input and the step's own response (steps.<this step>...)",
                )
            return step_id == self.step.id
        if step_id == self.step.id:
            self.add(path, f"{verb} the step itself")
            return False
        if step_id not in self.scope.methods:
            self.add(path, f'{verb} unknown step "{step_id}"')
            self.scope.dangling = True
            return False
        self.deps.add(step_id)
        if required:
            self.required.add(step_id)
        return True

    def _depends_on(self) -> None:
        for position, step_id in enumerate(self.step.depends_on):
            path = f"{self.path}.depends_on[{position}]"
            if not ID_PATTERN.fullmatch(step_id):
                self.add(path, f'depends_on "{step_id}" is not a step id')
                self.scope.dangling = True
            else:
                self._depend(step_id, path, "depends on")

    # --- fallback -------------------------------------------------------------------------

    def _fallback(self, step_timeout_s: float) -> Fallback | None:
        fallback = self.step.fallback
        path = f"{self.path}.fallback"
        has_last_good = fallback.HasField("last_good_answer")
        if bool(fallback.method) == has_last_good:
            self.add(path, "a fallback names exactly one of method or last_good_answer")
            return None
        if has_last_good:
            present = {"inputs": bool(fallback.inputs), "timeout": fallback.HasField("timeout")}
            for name in (name for name, given in present.items() if given):
                self.add(
                    f"{path}.{name}",
                    f"fallback {name} belongs to a fallback method, not to last_good_answer",
                )
            return self._last_good(fallback.last_good_answer, f"{path}.last_good_answer")
        method = None
        if self.scope.registry is not None:
            method = check_method(
                fallback.method,
                f"{path}.method",
                f"{self.label}: fallback",
                self.scope.registry,
                self.scope.collector,
            )
        if method is not None and self.method is not None:
            if method.full_name == self.method.full_name:
                self.add(f"{path}.method", "a fallback method must be another method")
                method = None
            else:
                problem = response_shape_problem(
                    self.method.descriptor.output_type, method.descriptor.output_type
                )
                if problem:
                    self.add(f"{path}.method", f'fallback "{method.full_name}" {problem}')
                    method = None
        request_type = method.descriptor.input_type if method else None
        bindings = self._bindings(fallback.inputs, request_type, path, primary=False)
        timeout_s = check_timeout(
            fallback.timeout if fallback.HasField("timeout") else None,
            step_timeout_s,
            f"{path}.timeout",
            f"{self.label}: fallback",
            self.scope.collector,
        )
        if method is None:
            return None
        return FallbackMethod(method=method, timeout_s=timeout_s, bindings=tuple(bindings))

    def _compensation(self, step_timeout_s: float) -> CompensationCall | None:
        compensation = self.step.compensation
        path = f"{self.path}.compensation"
        method = None
        if not compensation.method:
            self.add(f"{path}.method", "a compensation needs a method")
        elif self.scope.registry is not None:
            method = check_method(
                compensation.method,
                f"{path}.method",
                f"{self.label}: compensation",
                self.scope.registry,
                self.scope.collector,
            )
        request_type = method.descriptor.input_type if method else None
        self.compensating = True
        try:
            bindings = self._bindings(compensation.inputs, request_type, path, primary=False)
        finally:
            self.compensating = False
        timeout_s = check_timeout(
            compensation.timeout if compensation.HasField("timeout") else None,
            step_timeout_s,
            f"{path}.timeout",
            f"{self.label}: compensation",
            self.scope.collector,
        )
        if method is None:
            return None
        return CompensationCall(method=method, timeout_s=timeout_s, bindings=tuple(bindings))

    def _last_good(self, policy: workflow_pb2.LastGoodAnswer, path: str) -> LastGoodAnswer | None:
        max_age_s = check_bounded_duration(
            policy.max_age,
            MAX_LAST_GOOD_AGE_S,
            f"{path}.max_age",
            f"{self.label}: max_age",
            self.scope.collector,
        )
        return LastGoodAnswer(max_age_s=max_age_s) if max_age_s is not None else None

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
