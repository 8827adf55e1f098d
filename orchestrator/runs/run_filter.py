"""The ListWorkflowRuns filter: an AIP-160 subset, parsed once into a structured value.

Grammar (the keyword `AND` is case-sensitive, as in AIP-160)::

    filter      := "" | comparison ("AND" comparison)*
    comparison  := field operator value
    field       := "state" | "workflow_definition" | "create_time" | "labels." key
    operator    := "=" | "!=" | "<" | "<=" | ">" | ">="
    value       := bare-word | "double-quoted string"

`state` takes `=`/`!=` and `SUCCEEDED` or `RUN_STATE_SUCCEEDED`; `workflow_definition`
takes `=`/`!=` and an id or `workflowDefinitions/{id}`; `labels.<key>` takes `=`/`!=`
(`!=` also matches runs without the label); `create_time` takes `<`, `<=`, `>`, `>=`
and an RFC 3339 timestamp with an offset, within years 0001-9999 once in UTC.

Limits: at most MAX_FILTER_LENGTH characters and MAX_FILTER_COMPARISONS comparisons
(a store turns each into one SQL term; SQLite's expression depth is 1000). Stores
translate a `RunFilter` to their query language; `RunFilter.matches` is the reference semantics.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn, Protocol

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import FieldViolation, InvalidArgument, echo
from orchestrator.names import DEFINITION_ID_PATTERN as _DEFINITION_ID
from orchestrator.names import DEFINITION_PREFIX

_LABEL_KEY = re.compile(r"[A-Za-z0-9_\-]{1,63}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
MAX_FILTER_LENGTH = 2048
MAX_FILTER_COMPARISONS = 32


class Operator(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


_EQUALITY = (Operator.EQ, Operator.NE)
_ORDERING = (Operator.LT, Operator.LE, Operator.GT, Operator.GE)

_STATE_NAMES: dict[str, int] = {
    name: number
    for name, number in run_pb2.RunState.items()
    if number != run_pb2.RUN_STATE_UNSPECIFIED
}
_SHORT_STATE_NAMES = sorted(name.removeprefix("RUN_STATE_") for name in _STATE_NAMES)


@dataclass(frozen=True)
class StateCondition:
    op: Operator
    state: int  # run_pb2.RunState value

    def __str__(self) -> str:
        return f"state {self.op.value} {run_pb2.RunState.Name(self.state)}"  # type: ignore[arg-type]


@dataclass(frozen=True)
class DefinitionCondition:
    op: Operator
    definition: str  # full name, "workflowDefinitions/{id}"

    def __str__(self) -> str:
        return f"workflow_definition {self.op.value} {_quote(self.definition)}"


@dataclass(frozen=True)
class LabelCondition:
    key: str
    op: Operator
    value: str

    def __str__(self) -> str:
        return f"labels.{self.key} {self.op.value} {_quote(self.value)}"


@dataclass(frozen=True)
class CreateTimeCondition:
    op: Operator
    time_us: int  # unix microseconds

    def __str__(self) -> str:
        instant = _EPOCH + self.time_us * _MICROSECOND
        return f"create_time {self.op.value} {_quote(instant.isoformat())}"


Condition = StateCondition | DefinitionCondition | LabelCondition | CreateTimeCondition


class FilterableRun(Protocol):
    """What a filter looks at (a `RunRecord` has it)."""

    @property
    def state(self) -> int: ...
    @property
    def workflow_definition(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def create_time(self) -> float: ...


@dataclass(frozen=True)
class RunFilter:
    """Comparisons that must all hold. `RunFilter()` matches every run."""

    conditions: tuple[Condition, ...] = ()

    def __str__(self) -> str:
        """Canonical text: parses back to an equivalent filter."""
        return " AND ".join(str(condition) for condition in self.conditions)

    @property
    def fingerprint(self) -> str:
        """Stable hash of what the filter selects, independent of condition order."""
        canonical = "\n".join(sorted({str(condition) for condition in self.conditions}))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def matches(self, run: FilterableRun) -> bool:
        return all(_matches(condition, run) for condition in self.conditions)


def _matches(condition: Condition, run: FilterableRun) -> bool:
    if isinstance(condition, StateCondition):
        return _compare(run.state, condition.op, condition.state)
    if isinstance(condition, DefinitionCondition):
        return _compare(run.workflow_definition, condition.op, condition.definition)
    if isinstance(condition, LabelCondition):
        value = run.labels.get(condition.key)
        return (value == condition.value) == (condition.op is Operator.EQ)
    return _compare(round(run.create_time * 1_000_000), condition.op, condition.time_us)


def _compare(left: int | str, op: Operator, right: int | str) -> bool:
    if op is Operator.EQ:
        return left == right
    if op is Operator.NE:
        return left != right
    assert isinstance(left, int) and isinstance(right, int)
    if op is Operator.LT:
        return left < right
    if op is Operator.LE:
        return left <= right
    if op is Operator.GT:
        return left > right
    return left >= right


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- parsing -----------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<word>[^\s"'=!<>()]+)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "string", "word"
    text: str  # for strings: the unquoted value
    position: int


def parse_run_filter(text: str) -> RunFilter:
    """Parse a ListWorkflowRuns filter; `InvalidArgument` on the field "filter" if bad."""
    if len(text) > MAX_FILTER_LENGTH:
        _fail(f"a filter has at most {MAX_FILTER_LENGTH} characters, got {len(text)}")
    tokens = _tokenize(text)
    conditions: list[Condition] = []
    index = 0
    while index < len(tokens):
        if conditions:
            keyword = tokens[index]
            if keyword.kind != "word" or keyword.text != "AND":
                _fail(_explain_junction(keyword))
            index += 1
            if index == len(tokens):
                _fail(f"expected a comparison after AND at position {keyword.position}")
        if len(conditions) == MAX_FILTER_COMPARISONS:
            _fail(f"a filter joins at most {MAX_FILTER_COMPARISONS} comparisons")
        _check_field_start(tokens[index])
        if index + 3 > len(tokens):
            _fail(f"incomplete comparison at position {tokens[index].position}")
        field, operator, value = tokens[index : index + 3]
        conditions.append(_comparison(field, operator, value))
        index += 3
    return RunFilter(tuple(conditions))


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        raw = match.group()
        position = match.start()
        if kind == "space":
            continue
        if kind == "bad":
            if raw == '"':
                _fail(f"unterminated string starting at position {position}")
            if raw in "()":
                _fail("parentheses are not supported: join comparisons with AND")
            _fail(f"unexpected character {echo(raw)} at position {position}")
        if kind == "string":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        assert kind is not None
        tokens.append(_Token(kind, raw, position))
    return tokens


def _explain_junction(token: _Token) -> str:
    if token.kind == "word" and token.text.upper() == "AND":
        return (
            f"expected AND at position {token.position}, got {echo(token.text)} "
            "(keywords are case-sensitive)"
        )
    if token.kind == "word" and token.text in ("OR", "NOT"):
        return (
            f"{token.text} is not supported at position {token.position}: "
            "only AND joins comparisons"
        )
    return f"expected AND at position {token.position}, got {echo(token.text)}"


def _check_field_start(field: _Token) -> None:
    if field.kind != "word":
        _fail(f"expected a field name at position {field.position}, got {echo(field.text)}")
    if field.text in ("AND", "OR", "NOT"):
        _fail(
            f"{field.text} at position {field.position} is not supported here: "
            "write comparisons joined by AND"
        )
    if ":" in field.text:
        _fail("the has operator ':' is not supported: use = or !=")


def _comparison(field: _Token, operator: _Token, value: _Token) -> Condition:
    if operator.kind != "op":
        _fail(
            f"expected an operator (=, !=, <, <=, >, >=) after {echo(field.text)} at position "
            f"{operator.position}, got {echo(operator.text)}"
        )
    if value.kind == "op":
        _fail(f"expected a value after {field.text} {operator.text} at position {value.position}")
    op = Operator(operator.text)
    name = field.text
    if name == "state":
        _require(name, op, _EQUALITY)
        return StateCondition(op, _parse_state(value.text))
    if name == "workflow_definition":
        _require(name, op, _EQUALITY)
        return DefinitionCondition(op, _parse_definition(value.text))
    if name == "create_time":
        _require(name, op, _ORDERING)
        return CreateTimeCondition(op, _parse_time_us(value.text))
    if name.startswith("labels."):
        key = name.removeprefix("labels.")
        if not _LABEL_KEY.fullmatch(key):
            _fail(f"invalid label key {echo(key)}: use letters, digits, '_' or '-', up to 63")
        _require(name, op, _EQUALITY)
        return LabelCondition(key, op, value.text)
    _fail(
        f"unknown field {echo(name)}: "
        "filter on state, workflow_definition, create_time or labels.<key>"
    )


def _require(field: str, op: Operator, allowed: tuple[Operator, ...]) -> None:
    if op not in allowed:
        choices = ", ".join(o.value for o in allowed)
        _fail(f"operator {echo(op.value)} is not supported for {field}: use {choices}")


def _parse_state(text: str) -> int:
    state = _STATE_NAMES.get(text, _STATE_NAMES.get("RUN_STATE_" + text))
    if state is None:
        _fail(f"unknown state {echo(text)}: expected one of {', '.join(_SHORT_STATE_NAMES)}")
    return state


def _parse_definition(text: str) -> str:
    definition_id = text.removeprefix(DEFINITION_PREFIX)
    if not _DEFINITION_ID.fullmatch(definition_id):
        _fail(
            f"invalid workflow_definition {echo(text)}: expected an id matching "
            "[a-z][a-z0-9_]{0,62} or workflowDefinitions/{id}"
        )
    return DEFINITION_PREFIX + definition_id


def _parse_time_us(text: str) -> int:
    example = 'e.g. "2026-01-01T00:00:00Z"'
    try:
        instant = datetime.fromisoformat(text.upper())
    except ValueError:
        _fail(f"invalid create_time {echo(text)}: expected an RFC 3339 timestamp, {example}")
    if instant.tzinfo is None or "T" not in text.upper():
        _fail(f"invalid create_time {echo(text)}: give date, time and UTC offset, {example}")
    try:
        instant = instant.astimezone(UTC)
    except OverflowError:
        _fail(f"invalid create_time {echo(text)}: in UTC it falls outside the years 0001-9999")
    return (instant - _EPOCH) // _MICROSECOND


def _fail(description: str) -> NoReturn:
    raise InvalidArgument(
        f"invalid filter: {description}",
        violations=[FieldViolation("filter", description)],
    )
