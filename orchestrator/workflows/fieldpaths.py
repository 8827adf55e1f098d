"""Dotted field paths over protobuf messages: resolved against descriptors once,
at compile time, then read and written at run time without any parsing.

A path such as "budget.max_price" goes through singular message fields only;
its last field may be of any kind (scalar, enum, message, repeated, map).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

FieldPath = tuple[FieldDescriptor, ...]

_FD = FieldDescriptor

_SCALAR_NAMES = {
    _FD.TYPE_DOUBLE: "double",
    _FD.TYPE_FLOAT: "float",
    _FD.TYPE_INT64: "int64",
    _FD.TYPE_UINT64: "uint64",
    _FD.TYPE_INT32: "int32",
    _FD.TYPE_FIXED64: "fixed64",
    _FD.TYPE_FIXED32: "fixed32",
    _FD.TYPE_BOOL: "bool",
    _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes",
    _FD.TYPE_UINT32: "uint32",
    _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_SFIXED64: "sfixed64",
    _FD.TYPE_SINT32: "sint32",
    _FD.TYPE_SINT64: "sint64",
}

# Which scalar kinds (by C++ type) a value may be copied into: every value of the
# source fits the target (integers may widen into floating point).
_SCALAR_TARGETS = {
    _FD.CPPTYPE_INT32: {
        _FD.CPPTYPE_INT32,
        _FD.CPPTYPE_INT64,
        _FD.CPPTYPE_FLOAT,
        _FD.CPPTYPE_DOUBLE,
    },
    _FD.CPPTYPE_INT64: {_FD.CPPTYPE_INT64, _FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE},
    _FD.CPPTYPE_UINT32: {
        _FD.CPPTYPE_UINT32,
        _FD.CPPTYPE_UINT64,
        _FD.CPPTYPE_INT64,
        _FD.CPPTYPE_FLOAT,
        _FD.CPPTYPE_DOUBLE,
    },
    _FD.CPPTYPE_UINT64: {_FD.CPPTYPE_UINT64, _FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE},
    _FD.CPPTYPE_FLOAT: {_FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE},
    _FD.CPPTYPE_DOUBLE: {_FD.CPPTYPE_FLOAT, _FD.CPPTYPE_DOUBLE},
    _FD.CPPTYPE_BOOL: {_FD.CPPTYPE_BOOL},
}

NUMERIC_CPP_TYPES = frozenset(
    {
        _FD.CPPTYPE_INT32,
        _FD.CPPTYPE_INT64,
        _FD.CPPTYPE_UINT32,
        _FD.CPPTYPE_UINT64,
        _FD.CPPTYPE_FLOAT,
        _FD.CPPTYPE_DOUBLE,
    }
)


class FieldPathError(ValueError):
    """A dotted path that does not name a field; the message says why."""


def resolve_field_path(message: Descriptor, dotted: str) -> FieldPath:
    """The fields named by `dotted` in `message`, or FieldPathError."""
    if not dotted:
        raise FieldPathError("the field path is empty")
    segments = dotted.split(".")
    fields: list[FieldDescriptor] = []
    current: Descriptor = message
    for position, name in enumerate(segments):
        if not name:
            raise FieldPathError(f'field path "{dotted}" has an empty segment')
        field = current.fields_by_name.get(name)
        if field is None:
            raise FieldPathError(f'{current.full_name} has no field "{name}"')
        fields.append(field)
        if position < len(segments) - 1:
            if field.message_type is None or field.is_repeated:
                raise FieldPathError(
                    f'"{name}" is {describe_field_type(field)}; a field path can only go '
                    "through singular message fields"
                )
            current = field.message_type
    return tuple(fields)


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def is_numeric(field: FieldDescriptor) -> bool:
    return not field.is_repeated and field.cpp_type in NUMERIC_CPP_TYPES


def describe_field_type(field: FieldDescriptor) -> str:
    """A field's type as a person would write it, e.g. "repeated aura.common.v1.Garment"."""
    if is_map(field):
        entry = field.message_type
        assert entry is not None
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return f"map<{_element_type(key)}, {_element_type(value)}>"
    element = _element_type(field)
    return f"repeated {element}" if field.is_repeated else element


def _element_type(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return f"enum {field.enum_type.full_name}"
    return _SCALAR_NAMES.get(field.type, "unknown")


def wiring_problem(source: FieldDescriptor, target: FieldDescriptor) -> str | None:
    """Why a value of field `source` cannot be copied into field `target`, or None."""
    if is_map(source) or is_map(target):
        if not (is_map(source) and is_map(target)):
            return _mismatch(source, target)
        source_entry, target_entry = source.message_type, target.message_type
        assert source_entry is not None and target_entry is not None
        keys_fit = _elements_compatible(
            source_entry.fields_by_name["key"], target_entry.fields_by_name["key"]
        )
        values_fit = _elements_compatible(
            source_entry.fields_by_name["value"], target_entry.fields_by_name["value"]
        )
        return None if keys_fit and values_fit else _mismatch(source, target)
    if source.is_repeated != target.is_repeated:
        return _mismatch(source, target) + " (repeated fields take repeated values only)"
    return None if _elements_compatible(source, target) else _mismatch(source, target)


def _mismatch(source: FieldDescriptor, target: FieldDescriptor) -> str:
    return f"expects {describe_field_type(target)}, got {describe_field_type(source)}"


def _elements_compatible(source: FieldDescriptor, target: FieldDescriptor) -> bool:
    if source.message_type is not None or target.message_type is not None:
        return (
            source.message_type is not None
            and target.message_type is not None
            and source.message_type.full_name == target.message_type.full_name
        )
    if source.enum_type is not None or target.enum_type is not None:
        return (
            source.enum_type is not None
            and target.enum_type is not None
            and source.enum_type.full_name == target.enum_type.full_name
        )
    if source.cpp_type == _FD.CPPTYPE_STRING or target.cpp_type == _FD.CPPTYPE_STRING:
        return source.type == target.type  # string and bytes do not mix
    return target.cpp_type in _SCALAR_TARGETS.get(source.cpp_type, set())


# --- run time ---------------------------------------------------------------------------


def is_set(parent: Message, field: FieldDescriptor) -> bool:
    """True when the field is present and not its type's default."""
    if field.is_repeated:
        return len(getattr(parent, field.name)) > 0
    if field.message_type is not None:
        return parent.HasField(field.name)
    if field.has_presence and not parent.HasField(field.name):
        return False
    return bool(getattr(parent, field.name) != field.default_value)


def present_parent(root: Message, path: FieldPath) -> Message | None:
    """The message holding the path's last field, or None when a message on the
    way is unset (so the last field is absent, not merely default)."""
    parent = root
    for field in path[:-1]:
        if not parent.HasField(field.name):
            return None
        parent = getattr(parent, field.name)
    return parent


def parent_for_write(root: Message, path: FieldPath) -> Message:
    """The message holding the path's last field; messages on the way become
    present as soon as something is written into them."""
    parent = root
    for field in path[:-1]:
        parent = getattr(parent, field.name)
    return parent


def read_value(root: Message, path: FieldPath) -> Any:
    """The path's value with protobuf's reading semantics (unset means default)."""
    value: Any = root
    for field in path:
        value = getattr(value, field.name)
    return value


def copy_field(
    source_parent: Message,
    source: FieldDescriptor,
    target_parent: Message,
    target: FieldDescriptor,
) -> None:
    """Replace `target` in `target_parent` with the value of `source` in
    `source_parent`; the two fields are wiring-compatible."""
    value = getattr(source_parent, source.name)
    if is_map(target):
        target_map = getattr(target_parent, target.name)
        target_map.clear()
        if target.message_type is not None and _map_value_is_message(target):
            for key, item in value.items():
                target_map[key].CopyFrom(item)
        else:
            target_map.update(value)
    elif target.is_repeated:
        container = getattr(target_parent, target.name)
        del container[:]
        container.extend(value)
    elif target.message_type is not None:
        getattr(target_parent, target.name).CopyFrom(value)
    else:
        setattr(target_parent, target.name, value)


def _map_value_is_message(field: FieldDescriptor) -> bool:
    entry = field.message_type
    assert entry is not None
    return entry.fields_by_name["value"].message_type is not None
