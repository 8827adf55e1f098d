"""Triggers of a workflow definition: which events start a run and with what input.

Compiled once with the definition. A trigger matches an event by topic, by a glob on
its key (fnmatch: "*", "?", "[abc]"; case-sensitive) and by a filter of clauses
`<path> = <value>` / `<path> != <value>` joined by " AND ", where a path is
`payload.<field>[.<field>...]`, `key`, `topic` or `event_id` and a value is a JSON
literal. An absent path compares as null. The run input maps input keys to such paths
(absent ones are left out); no mapping means the whole payload is the input.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import ViolationCollector, echo
from orchestrator.workflows.references import ID_PATTERN, INPUT_KEY_PATTERN

#: Same syntax as aura.events.v1.Event.topic.
TOPIC_PATTERN: Final = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
MAX_TOPIC_LENGTH: Final = 63
MAX_TRIGGERS: Final = 16
MAX_KEY_PATTERN_LENGTH: Final = 256
MAX_FILTER_LENGTH: Final = 1024
MAX_FILTER_CLAUSES: Final = 16
MAX_INPUT_MAPPINGS: Final = 64
PATH_PATTERN: Final = re.compile(r"(key|topic|event_id|payload(\.[A-Za-z_][A-Za-z0-9_]*)+)")
_CLAUSE = re.compile(r"\s*(?P<path>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>!=|=)\s*(?P<value>.+?)\s*")
_MISSING = object()


@dataclass(frozen=True)
class EventView:
    """What a trigger sees of an event (plain values; the bus builds it)."""

    topic: str
    key: str
    event_id: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class FilterClause:
    path: str
    equal: bool
    value: Any

    def holds(self, event: EventView) -> bool:
        found = lookup(event, self.path)
        found = None if found is _MISSING else found
        return bool(found == self.value) == self.equal


def lookup(event: EventView, path: str) -> Any:
    """The value at `path` in `event`; _MISSING when absent."""
    head, _, rest = path.partition(".")
    if head != "payload":
        return getattr(event, head)
    value: Any = event.payload
    for part in rest.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


@dataclass(frozen=True)
class CompiledTrigger:
    definition: str
    """"workflowDefinitions/{id}" it starts."""
    id: str
    topic: str
    key_pattern: str
    clauses: tuple[FilterClause, ...]
    input_map: tuple[tuple[str, str], ...]

    def matches(self, event: EventView) -> bool:
        if event.topic != self.topic:
            return False
        if self.key_pattern and not fnmatch.fnmatchcase(event.key, self.key_pattern):
            return False
        return all(clause.holds(event) for clause in self.clauses)

    def run_input(self, event: EventView) -> dict[str, Any]:
        if not self.input_map:
            return dict(event.payload)
        built = {}
        for key, path in self.input_map:
            value = lookup(event, path)
            if value is not _MISSING and value is not None:
                built[key] = value
        return built

    def request_id(self, event_id: str) -> str:
        """The run's request_id: the same for every delivery of the event, distinct
        per (definition, trigger, event); 72 characters."""
        digest = hashlib.sha256(
            "\x1f".join((self.definition, self.id, event_id)).encode()
        ).hexdigest()
        return f"trigger-{digest[:64]}"


def _parse_filter(text: str, path: str, collector: ViolationCollector) -> list[FilterClause]:
    if not text.strip():
        return []
    if len(text) > MAX_FILTER_LENGTH:
        collector.add(path, f"a filter has at most {MAX_FILTER_LENGTH} characters")
        return []
    parts = text.split(" AND ")
    if len(parts) > MAX_FILTER_CLAUSES:
        collector.add(path, f"a filter has at most {MAX_FILTER_CLAUSES} clauses")
        return []
    clauses = []
    for part in parts:
        match = _CLAUSE.fullmatch(part)
        if match is None or not PATH_PATTERN.fullmatch(match["path"]):
            collector.add(
                path,
                f"clause {echo(part.strip())} must be <path> = <value> or <path> != <value> "
                "with a path payload.<field>..., key, topic or event_id",
            )
            continue
        try:
            value = json.loads(match["value"])
        except json.JSONDecodeError:
            collector.add(
                path,
                f"value {echo(match['value'])} must be a JSON literal "
                '(a "quoted" string, number, true, false or null)',
            )
            continue
        if isinstance(value, dict | list):
            collector.add(
                path, f"value {echo(match['value'])} must be a string, number, bool or null"
            )
            continue
        clauses.append(FilterClause(match["path"], match["op"] == "=", value))
    return clauses


def compile_triggers(
    definition: str, triggers: Sequence[workflow_pb2.Trigger], collector: ViolationCollector
) -> tuple[CompiledTrigger, ...]:
    """The definition's triggers, every problem added to `collector` (field paths
    `triggers[i].<field>`)."""
    if len(triggers) > MAX_TRIGGERS:
        collector.add("triggers", f"at most {MAX_TRIGGERS} triggers")
        return ()
    compiled = []
    seen: set[str] = set()
    for index, trigger in enumerate(triggers):
        at = f"triggers[{index}]"
        ok = True
        if not ID_PATTERN.fullmatch(trigger.id):
            collector.add(
                f"{at}.id", f"trigger id {echo(trigger.id)} must match {ID_PATTERN.pattern}"
            )
            ok = False
        elif trigger.id in seen:
            collector.add(f"{at}.id", f'trigger id "{trigger.id}" is used twice')
            ok = False
        seen.add(trigger.id)
        if len(trigger.topic) > MAX_TOPIC_LENGTH or not TOPIC_PATTERN.fullmatch(trigger.topic):
            collector.add(
                f"{at}.topic",
                f"topic {echo(trigger.topic)} must be dot-separated words of a-z, 0-9, '_' "
                f"or '-', at most {MAX_TOPIC_LENGTH} characters, e.g. run.finished",
            )
            ok = False
        if len(trigger.key_pattern) > MAX_KEY_PATTERN_LENGTH:
            collector.add(f"{at}.key_pattern", f"at most {MAX_KEY_PATTERN_LENGTH} characters")
            ok = False
        before = len(collector.violations)
        clauses = _parse_filter(trigger.filter, f"{at}.filter", collector)
        ok = ok and len(collector.violations) == before
        if len(trigger.input) > MAX_INPUT_MAPPINGS:
            collector.add(f"{at}.input", f"at most {MAX_INPUT_MAPPINGS} input mappings")
            ok = False
        for key, source in sorted(trigger.input.items()):
            if not INPUT_KEY_PATTERN.fullmatch(key):
                collector.add(
                    f"{at}.input[{key[:63]}]", f"input key must match {INPUT_KEY_PATTERN.pattern}"
                )
                ok = False
            if not PATH_PATTERN.fullmatch(source):
                collector.add(
                    f"{at}.input[{key[:63]}]",
                    f"source {echo(source)} must be payload.<field>..., key, topic or event_id",
                )
                ok = False
        if ok:
            compiled.append(
                CompiledTrigger(
                    definition=definition,
                    id=trigger.id,
                    topic=trigger.topic,
                    key_pattern=trigger.key_pattern,
                    clauses=tuple(clauses),
                    input_map=tuple(sorted(trigger.input.items())),
                )
            )
    return tuple(compiled)
