"""What an event may be: the bounds of topics, keys, event ids, payloads and cursors,
checked before anything reaches Redis, each violation reported with its field."""

from __future__ import annotations

import re
import uuid
from typing import Final

from google.protobuf import struct_pb2

from orchestrator.errors import FieldViolation, InvalidArgument, ViolationCollector, echo

#: "run.finished", "style.profile_updated": dot-separated words of [a-z0-9_-].
TOPIC_PATTERN: Final = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
MAX_TOPIC_LENGTH: Final = 63
MAX_KEY_LENGTH: Final = 256
EVENT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_EVENT_ID_LENGTH: Final = 128
MAX_PAYLOAD_BYTES: Final = 65536
MAX_PAYLOAD_DEPTH: Final = 32
#: A Redis stream entry id, "<milliseconds>-<sequence>" (a cursor, a page token, a
#: dead letter's id); as a cursor, "0" is the stream's start.
ENTRY_ID_PATTERN: Final = re.compile(r"\d{1,20}-\d{1,20}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000


def topic_problem(topic: str) -> str | None:
    """Why `topic` is not a topic, or None."""
    if not topic:
        return "required, e.g. run.finished"
    if len(topic) > MAX_TOPIC_LENGTH:
        return f"at most {MAX_TOPIC_LENGTH} characters, got {len(topic)}"
    if not TOPIC_PATTERN.fullmatch(topic):
        return (
            f"{echo(topic)} must be dot-separated words of a-z, 0-9, '_' or '-', e.g. run.finished"
        )
    return None


def check_topic(topic: str, field: str = "topic") -> str:
    problem = topic_problem(topic)
    if problem:
        raise InvalidArgument(f"{field}: {problem}", violations=[FieldViolation(field, problem)])
    return topic


def _depth(value: struct_pb2.Value | struct_pb2.Struct, level: int = 1) -> int:
    if isinstance(value, struct_pb2.Struct):
        return max((_depth(v, level + 1) for v in value.fields.values()), default=level)
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return _depth(value.struct_value, level)
    if kind == "list_value":
        return max((_depth(v, level + 1) for v in value.list_value.values), default=level)
    return level


def check_event(topic: str, key: str, event_id: str, payload: struct_pb2.Struct) -> str:
    """InvalidArgument listing every bad field; returns the event id (a new one when empty)."""
    problems = ViolationCollector()
    if (problem := topic_problem(topic)) is not None:
        problems.add("topic", problem)
    if len(key) > MAX_KEY_LENGTH:
        problems.add("key", f"at most {MAX_KEY_LENGTH} characters, got {len(key)}")
    elif _CONTROL.search(key):
        problems.add("key", "must not contain control characters")
    if event_id and not EVENT_ID_PATTERN.fullmatch(event_id):
        problems.add(
            "event_id",
            f"at most {MAX_EVENT_ID_LENGTH} characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        )
    size = payload.ByteSize()
    if size > MAX_PAYLOAD_BYTES:
        problems.add("payload", f"at most {MAX_PAYLOAD_BYTES} bytes serialized, got {size}")
    elif _depth(payload) > MAX_PAYLOAD_DEPTH:
        problems.add("payload", f"nested at most {MAX_PAYLOAD_DEPTH} levels")
    problems.raise_if_any("invalid event: " + ", ".join(v.field for v in problems.violations))
    return event_id or uuid.uuid4().hex


def check_cursor(cursor: str, field: str = "cursor", *, start_allowed: bool = True) -> str:
    """`cursor` when it is empty or a stream entry id (or "0", when `start_allowed`)."""
    if cursor and not (ENTRY_ID_PATTERN.fullmatch(cursor) or (start_allowed and cursor == "0")):
        expected = 'an Event.cursor such as "1733107200000-0"' + (
            ', or "0"' if start_allowed else ""
        )
        raise InvalidArgument(
            f"{field} {echo(cursor)} is not a stream position",
            violations=[FieldViolation(field, expected)],
        )
    return cursor


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            violations=[FieldViolation("page_size", "must be >= 0")],
        )
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
