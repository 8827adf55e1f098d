"""Hypothesis strategies for requests: meaningful shapes at the edges, and plain garbage.

`messages(descriptor)` makes any protobuf message from its descriptor; the named strategies make
the orchestrator's requests with the values that break servers: NaN and Infinity in Structs,
deep nesting, huge and odd strings, int64 edges in durations, random filters and page tokens.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import duration_pb2, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from aura.orchestrator.v1 import orchestrator_pb2 as api
from aura.orchestrator.v1 import workflow_pb2
from tests.integration.orchestrator_helpers import STYLE_INPUT

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1

SEED_DEFINITIONS = (
    "complete_style_analysis",
    "outfit_recommendation",
    "personalized_shopping",
    "style_evolution_analysis",
    "trend_analysis",
)
SEED_METHODS = (
    "aura.image.v1.ImageProcessingService/AnalyzeImage",
    "aura.nlu.v1.NluService/AnalyzeText",
    "aura.style.v1.StyleProfileService/BuildStyleProfile",
    "aura.style.v1.StyleProfileService/GetStyleProfile",
    "aura.recommendation.v1.RecommendationEngineService/GetTrends",
)
# A handful of request ids that examples share, so ids are replayed with other requests.
REQUEST_IDS = tuple(f"fuzz-request-{i}" for i in range(6))

odd_strings = st.sampled_from(
    [
        "",
        " ",
        "/",
        "//",
        "workflowRuns/",
        "workflowRuns//x",
        "workflowRuns/../etc/passwd",
        "workflowDefinitions/",
        "workflowDefinitions/complete_style_analysis/extra",
        "%00",
        "\x00",
        "\x7f\u0000\ufeff",
        "\u202etxet",
        "名前",
        "🧥👖",
        "a\nb\tc\rd",
        "' OR 1=1 --",
        '"quoted"',
        "\\",
        "null",
        "NaN",
        "-0",
        "9223372036854775808",
    ]
)
huge_strings = st.builds(
    lambda ch, n: ch * n, st.characters(codec="utf-8"), st.integers(1_000, 200_000)
)
texts = st.one_of(st.text(max_size=30), odd_strings, huge_strings)
short_texts = st.one_of(st.text(max_size=30), odd_strings)


def names(prefix: str, known: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Resource names: well-formed, bare ids, known ones and anything at all."""
    well_formed = st.from_regex(r"[a-z0-9_-]{1,40}", fullmatch=True)
    shapes = [
        texts,
        well_formed,
        well_formed.map(lambda id_: prefix + id_),
        texts.map(lambda id_: prefix + id_),
    ]
    if known:
        shapes.append(st.sampled_from(known))
    return st.one_of(shapes)


int32s = st.one_of(
    st.integers(INT32_MIN, INT32_MAX), st.sampled_from([INT32_MIN, -1, 0, 1, 1000, INT32_MAX])
)
int64s = st.one_of(
    st.integers(INT64_MIN, INT64_MAX), st.sampled_from([INT64_MIN, -1, 0, 1, INT64_MAX])
)


@st.composite
def durations(draw: st.DrawFn) -> duration_pb2.Duration:
    """Durations in and far out of range: int64 seconds, negative and oversized nanos."""
    seconds = draw(
        st.one_of(
            st.integers(0, 30),
            int64s,
            st.sampled_from([315_576_000_000, 315_576_000_001, -315_576_000_001]),
        )
    )
    nanos = draw(st.one_of(st.just(0), st.integers(-999_999_999, 999_999_999), int32s))
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


# Values of a Struct: every JSON kind, floats at their edges, a Value with no kind at all.
NO_KIND = object()
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]),
)
json_leaves = st.one_of(st.none(), st.booleans(), floats, texts, st.just(NO_KIND))
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(short_texts, children, max_size=4)
    ),
    max_leaves=12,
)


def to_value(python: Any, value: struct_pb2.Value) -> None:
    if python is NO_KIND:
        return
    if python is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(python, bool):
        value.bool_value = python
    elif isinstance(python, float):
        value.number_value = python
    elif isinstance(python, str):
        value.string_value = python
    elif isinstance(python, list):
        value.list_value.SetInParent()
        for item in python:
            to_value(item, value.list_value.values.add())
    else:
        to_struct(python, value.struct_value)


def to_struct(python: dict[str, Any], struct: struct_pb2.Struct) -> struct_pb2.Struct:
    struct.Clear()
    for key, item in python.items():
        to_value(item, struct.fields[key])
    return struct


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "bottom"}
    for level in range(depth):
        value = {f"level{level}": value}
    return value


@st.composite
def run_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """A run input: the good one, with fuzzed extras, fuzzed fields, or anything at all."""
    base = dict(STYLE_INPUT)
    shape = draw(st.sampled_from(["good", "extras", "fields", "nested", "anything"]))
    if shape == "extras":
        base.update(draw(st.dictionaries(short_texts, json_values, max_size=4)))
    elif shape == "fields":
        for key in draw(st.lists(st.sampled_from(sorted(STYLE_INPUT)), max_size=3)):
            base[key] = draw(json_values)
    elif shape == "nested":
        base["deep"] = nested(draw(st.integers(1, 60)))
    elif shape == "anything":
        base = draw(st.dictionaries(short_texts, json_values, max_size=6))
    return base


labels = st.dictionaries(
    st.one_of(st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True), short_texts),
    st.one_of(st.from_regex(r"[a-z0-9_-]{0,20}", fullmatch=True), texts),
    max_size=4,
)
definition_names = names("workflowDefinitions/", SEED_DEFINITIONS)


@st.composite
def run_requests(draw: st.DrawFn, message: type[Message]) -> Message:
    """Start, Execute or Stream requests; mostly runnable, often odd."""
    request = message(
        workflow_definition=draw(st.one_of(st.sampled_from(SEED_DEFINITIONS), definition_names)),
        labels=draw(labels),
        request_id=draw(st.one_of(st.just(""), st.sampled_from(REQUEST_IDS), texts)),
    )
    # Built in place: copying a Struct nested past the parser's limit would fail in the client.
    to_struct(draw(run_inputs()), request.input)  # type: ignore[attr-defined]
    if draw(st.booleans()):
        request.timeout.CopyFrom(draw(durations()))  # type: ignore[attr-defined]
    return request


FILTER_TOKENS = (
    "state",
    "workflow_definition",
    "create_time",
    "labels.env",
    "labels.",
    "labels",
    "request_id",
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    ":",
    "AND",
    "and",
    "OR",
    "NOT",
    "-",
    "(",
    ")",
    '"',
    '""',
    "SUCCEEDED",
    "RUN_STATE_FAILED",
    "complete_style_analysis",
    "workflowDefinitions/trend_analysis",
    "2026-12-01T00:00:00Z",
    "2026-12-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+14:00",
    "1970-01-01T00:00:00.000000001Z",
    "*",
)


@st.composite
def filters(draw: st.DrawFn) -> str:
    """Filters: well-formed comparisons with odd values, token soup, and random text."""
    shape = draw(st.sampled_from(["comparisons", "tokens", "text"]))
    if shape == "text":
        return draw(texts)
    if shape == "tokens":
        tokens = st.one_of(st.sampled_from(FILTER_TOKENS), short_texts)
        return " ".join(draw(st.lists(tokens, max_size=12)))
    fields = st.sampled_from(["state", "workflow_definition", "create_time", "labels.env"])
    operators = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
    values = st.one_of(
        st.sampled_from(FILTER_TOKENS[23:]),
        short_texts.map(json.dumps),
        st.from_regex(r"[A-Za-z0-9_./:+-]{1,30}", fullmatch=True),
    )
    comparisons = st.builds(lambda f, o, v: f"{f} {o} {v}", fields, operators, values)
    return " AND ".join(draw(st.lists(comparisons, min_size=1, max_size=40)))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@st.composite
def page_tokens(draw: st.DrawFn, fingerprint: str = "") -> str:
    """Opaque tokens: random text, random base64, and JSON cursors with values out of range."""
    shape = draw(st.sampled_from(["empty", "text", "base64", "cursor"]))
    if shape == "empty":
        return ""
    if shape == "text":
        return draw(texts)
    if shape == "base64":
        return _b64(draw(st.binary(max_size=64)))
    big = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, INT64_MAX, INT64_MIN])
    cursor = {
        "v": draw(st.one_of(st.just(1), st.integers(), st.text(max_size=3))),
        "t": draw(st.one_of(int64s, big, floats, st.text(max_size=5), st.none())),
        "n": draw(st.one_of(names("workflowRuns/"), st.integers(), st.none())),
        "f": draw(st.one_of(st.just(fingerprint), st.text(max_size=10))),
    }
    return _b64(json.dumps(cursor).encode())


# Any message, from its descriptor: for garbage-shaped requests and the mock services.
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_DOUBLE: floats,
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    FieldDescriptor.TYPE_INT64: int64s,
    FieldDescriptor.TYPE_SINT64: int64s,
    FieldDescriptor.TYPE_SFIXED64: int64s,
    FieldDescriptor.TYPE_UINT64: st.integers(0, UINT64_MAX),
    FieldDescriptor.TYPE_FIXED64: st.integers(0, UINT64_MAX),
    FieldDescriptor.TYPE_INT32: int32s,
    FieldDescriptor.TYPE_SINT32: int32s,
    FieldDescriptor.TYPE_SFIXED32: int32s,
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_STRING: texts,
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
    # Open enums: known numbers and unknown ones.
    FieldDescriptor.TYPE_ENUM: st.one_of(st.integers(0, 12), int32s),
}


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0) -> Message:
    """Any value of any field, a few levels deep; each field set or left out at random."""
    message = GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 3))):
                key = draw(_SCALARS[key_field.type])
                if value_field.message_type is None:
                    target[key] = draw(_SCALARS[value_field.type])
                elif depth < 3:
                    target[key].CopyFrom(draw(messages(value_field.message_type, depth + 1)))
        elif field.message_type is not None:
            if depth >= 3:
                continue
            items = draw(st.integers(0, 3)) if _is_repeated(field) else 1
            for _ in range(items):
                value = draw(messages(field.message_type, depth + 1))
                (target.add() if _is_repeated(field) else target).CopyFrom(value)
        elif _is_repeated(field):
            target.extend(draw(st.lists(_SCALARS[field.type], max_size=4)))
        else:
            setattr(message, field.name, draw(_SCALARS[field.type]))
    return message


@st.composite
def mutated(draw: st.DrawFn, payload: bytes) -> bytes:
    """`payload` with bytes flipped, cut, inserted or duplicated."""
    data = bytearray(payload)
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["flip", "cut", "insert", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if edit == "flip" and data:
            index = min(at, len(data) - 1)
            data[index] ^= draw(st.integers(1, 255))
        elif edit == "cut":
            del data[at:]
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data += data[at:]
    return bytes(data)


def workflow_definitions() -> st.SearchStrategy[workflow_pb2.WorkflowDefinition]:
    """Definitions a validator must reject or accept, never crash on."""
    refs = st.one_of(
        st.sampled_from(["input.user_id", "input.text", "steps.a", "steps.a.profile", "input."]),
        short_texts,
    )
    sources = st.one_of(
        refs.map(lambda ref: workflow_pb2.FieldSource(ref=ref)),
        json_values.map(_value_source),
    )
    steps = st.builds(
        workflow_pb2.WorkflowStep,
        id=st.one_of(st.sampled_from(["a", "b", "c"]), short_texts),
        method=st.one_of(st.sampled_from(SEED_METHODS), short_texts),
        inputs=st.dictionaries(
            st.one_of(st.sampled_from(["user_id", "text", "image_uri"]), short_texts),
            sources,
            max_size=3,
        ),
        depends_on=st.lists(st.one_of(st.sampled_from(["a", "b", "c"]), short_texts), max_size=3),
        timeout=st.one_of(st.none(), durations()),
        optional=st.booleans(),
    )
    return st.builds(
        workflow_pb2.WorkflowDefinition,
        name=definition_names,
        description=short_texts,
        steps=st.lists(steps, max_size=4),
        timeout=st.one_of(st.none(), durations()),
        required_inputs=st.lists(short_texts, max_size=3),
    )


def _value_source(python: Any) -> workflow_pb2.FieldSource:
    source = workflow_pb2.FieldSource()
    source.value.SetInParent()
    to_value(python, source.value)
    return source


def orchestrator_requests(method: str, fingerprint: str = "") -> st.SearchStrategy[Message]:
    """Meaningful requests for one OrchestratorService method, by its name."""
    run_names = names("workflowRuns/")
    strategies: dict[str, st.SearchStrategy[Message]] = {
        "ListWorkflowDefinitions": st.builds(
            api.ListWorkflowDefinitionsRequest,
            page_size=int32s,
            page_token=st.one_of(page_tokens(), texts.map(lambda t: _b64(f"after:{t}".encode()))),
        ),
        "GetWorkflowDefinition": st.builds(api.GetWorkflowDefinitionRequest, name=definition_names),
        "CreateWorkflowDefinition": st.builds(
            api.CreateWorkflowDefinitionRequest,
            workflow_definition=workflow_definitions(),
            validate_only=st.booleans(),
        ),
        "StartWorkflowRun": run_requests(api.StartWorkflowRunRequest),
        "ExecuteWorkflowRun": run_requests(api.ExecuteWorkflowRunRequest),
        "StreamWorkflowRun": run_requests(api.StreamWorkflowRunRequest),
        "WatchWorkflowRun": st.builds(
            api.WatchWorkflowRunRequest, name=run_names, after_seq=int64s
        ),
        "GetWorkflowRun": st.builds(api.GetWorkflowRunRequest, name=run_names),
        "ListWorkflowRuns": st.builds(
            api.ListWorkflowRunsRequest,
            page_size=int32s,
            page_token=page_tokens(fingerprint),
            # The empty filter half the time, so cursors carrying its fingerprint get decoded.
            filter=st.one_of(st.just(""), filters()),
        ),
        "CancelWorkflowRun": st.builds(api.CancelWorkflowRunRequest, name=run_names, reason=texts),
        "ListServices": st.just(api.ListServicesRequest()),
        "DeleteWorkflowRun": st.builds(api.DeleteWorkflowRunRequest, name=run_names),
        "DeleteWorkflowDefinition": st.builds(
            api.DeleteWorkflowDefinitionRequest, name=definition_names
        ),
        "GetTransactionOutcome": st.builds(
            api.GetTransactionOutcomeRequest,
            transaction_id=st.one_of(texts, run_names.map(lambda name: f"{name}/adopt")),
        ),
        "GetAnalytics": st.builds(
            api.GetAnalyticsRequest,
            window=st.one_of(st.none(), durations()),
            workflow_definition=st.one_of(st.just(""), definition_names),
        ),
    }
    return strategies[method]
