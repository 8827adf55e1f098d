"""HTTP routes read from the `google.api.http` rules of a gRPC service's descriptor.

Each rule gives a verb, a path template (`/v1/{name=workflowRuns/*}:cancel`) and where the
body goes (`*`: the whole request; a field name: that field; none: nothing). A request
is built from the path's variables, then the query parameters (every field the path and
the body do not set, `a.b=` for nested ones, repeated ones by repeating the parameter),
then the body, all through protobuf's JSON mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import (
    Descriptor,
    FieldDescriptor,
    MethodDescriptor,
    ServiceDescriptor,
)
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

VERBS = ("get", "put", "post", "delete", "patch")


class RequestError(ValueError):
    """The HTTP request cannot become the RPC's request message (INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class HttpRoute:
    """One RPC reachable over HTTP."""

    verb: str  # "GET", "POST", ...
    template: str  # as written in the rule
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # field paths bound by the template, in order
    body: str  # "", "*" or a top-level field name
    method: MethodDescriptor
    request_class: type[Message]
    response_class: type[Message]

    @property
    def path(self) -> str:
        """The gRPC method path, "/package.Service/Method"."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    def match(self, verb: str, path: str) -> dict[str, str] | None:
        """The template's variables if `verb path` is this route, else None."""
        if verb != self.verb:
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: found.group(f"v{index}") for index, name in enumerate(self.variables)}

    def build_request(
        self, bound: Mapping[str, str], query: Iterable[tuple[str, str]], body: bytes
    ) -> Message:
        """The request message: path variables, query parameters, then the body."""
        document: dict[str, Any] = {}
        descriptor = cast(Descriptor, self.request_class.DESCRIPTOR)
        for field_path, value in bound.items():
            _set_path(document, descriptor, field_path, value, repeated_ok=False)
        for name, value in query:
            if self.body == "*":
                raise RequestError(
                    f'query parameter "{name}": this method takes its fields in the body'
                )
            if name.split(".")[0] == self.body or name in bound:
                raise RequestError(f'query parameter "{name}" is set by the path or the body')
            _set_path(document, descriptor, name, value, repeated_ok=True)
        if self.body:
            parsed = _parse_body(body)
            if self.body == "*":
                if not isinstance(parsed, dict):
                    raise RequestError("the body must be a JSON object")
                clash = sorted(set(parsed) & set(document))
                if clash:
                    raise RequestError(f'body field "{clash[0]}" is set by the path too')
                document.update(parsed)
            else:
                document[_json_name(descriptor, self.body)] = parsed
        elif body.strip():
            raise RequestError(f"{self.verb} {self.template} takes no body")
        request = self.request_class()
        try:
            json_format.ParseDict(document, request)
        except json_format.ParseError as error:
            raise RequestError(str(error)) from error
        return request


def routes_of(service: ServiceDescriptor) -> list[HttpRoute]:
    """Every method of `service` that has a google.api.http rule (and its additional
    bindings), in declaration order."""
    routes: list[HttpRoute] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
        for one in (rule, *rule.additional_bindings):
            routes.append(_route(method, one))
    return routes


def _route(method: MethodDescriptor, rule: http_pb2.HttpRule) -> HttpRoute:
    kind = rule.WhichOneof("pattern")
    if kind not in VERBS:
        raise ValueError(f"{method.full_name}: unsupported http pattern {kind!r}")
    template = getattr(rule, kind)
    pattern, variables = compile_template(template)
    return HttpRoute(
        verb=kind.upper(),
        template=template,
        pattern=pattern,
        variables=variables,
        body=rule.body,
        method=method,
        request_class=GetMessageClass(method.input_type),
        response_class=GetMessageClass(method.output_type),
    )


_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_.]*)(?:=([^}]*))?\}")
# One path segment, and any number of them; neither takes the ":verb" of a custom method, so
# `{name=workflowRuns/*}` does not match `workflowRuns/x:cancel`.
_SEGMENT = "[^/:]+"
_SEGMENTS = "[^:]+"


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A path template (google/api/http.proto's syntax) as a regular expression with one
    group per variable: `*` is one segment, `**` any number of them (the custom verb
    after a ":" never belongs to a variable)."""
    parts: list[str] = []
    variables: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(template):
        parts.append(_literal(template[position : found.start()]))
        segments = found.group(2) or "*"
        inner = "/".join(
            _SEGMENT if s == "*" else _SEGMENTS if s == "**" else re.escape(s)
            for s in segments.split("/")
        )
        parts.append(f"(?P<v{len(variables)}>{inner})")
        variables.append(found.group(1))
        position = found.end()
    parts.append(_literal(template[position:]))
    return re.compile("".join(parts)), tuple(variables)


def _literal(text: str) -> str:
    return re.escape(text).replace(r"\*\*", _SEGMENTS).replace(r"\*", _SEGMENT)


def _parse_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(f"the body is not valid JSON: {error}") from error


def _json_name(descriptor: Descriptor, name: str) -> str:
    field = descriptor.fields_by_name.get(name)
    return field.json_name if field is not None else name


def _set_path(
    document: dict[str, Any], descriptor: Descriptor, path: str, value: str, *, repeated_ok: bool
) -> None:
    """document[a][b] = value for the field path "a.b", the text converted to what the
    field's JSON mapping expects (bools and numbers; the rest stays text)."""
    names = path.split(".")
    node = document
    current: Descriptor | None = descriptor
    for depth, name in enumerate(names):
        if current is None:
            raise RequestError(f'"{path}": "{names[depth - 1]}" has no fields')
        field = current.fields_by_name.get(name)
        if field is None:
            for candidate in current.fields:
                if candidate.json_name == name:
                    field = candidate
        if field is None:
            raise RequestError(f'"{path}": {current.full_name} has no field "{name}"')
        key = field.json_name
        if _is_map(field) and depth == len(names) - 2:
            node.setdefault(key, {})[names[-1]] = value
            return
        if depth < len(names) - 1:
            if field.type != FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
                raise RequestError(f'"{path}": "{name}" is not a message field')
            node = node.setdefault(key, {})
            current = field.message_type
            continue
        scalar = _scalar(field, value, path)
        if _is_repeated(field) and not _is_map(field):
            if not repeated_ok:
                raise RequestError(f'"{path}" is a repeated field')
            node.setdefault(key, []).append(scalar)
        else:
            node[key] = scalar


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: FieldDescriptor) -> bool:
    message = field.message_type
    return bool(message is not None and message.GetOptions().map_entry)


def _scalar(field: FieldDescriptor, value: str, path: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value.lower() in ("true", "1", ""):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise RequestError(f'"{path}": expected true or false, got "{value}"')
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        try:
            return float(value)
        except ValueError as error:
            raise RequestError(f'"{path}": expected a number, got "{value}"') from error
    message = field.message_type
    if message is not None and message.full_name not in (
        "google.protobuf.Duration",
        "google.protobuf.Timestamp",
        "google.protobuf.FieldMask",
    ):
        raise RequestError(f'"{path}" is a message: set its fields ("{path}.<field>")')
    return value  # ints, enums, strings, bytes, durations, timestamps: JSON accepts text
