"""Reading workflow definitions authored as YAML or JSON (protobuf's JSON
mapping), and the seed definitions shipped with the orchestrator."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from google.protobuf import json_format

from aura.orchestrator.v1 import workflow_pb2
from orchestrator.errors import InvalidArgument
from orchestrator.workflows.compiler import INVALID_DEFINITION_REASON

DefinitionFormat = Literal["yaml", "json"]

_SUFFIX_FORMATS: dict[str, DefinitionFormat] = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def parse_definition(
    text: str, *, fmt: DefinitionFormat = "yaml"
) -> workflow_pb2.WorkflowDefinition:
    """Parse one definition; InvalidArgument when the text is not a definition.
    Field names may be written as in the proto (snake_case) or in JSON (camelCase)."""
    try:
        document: Any = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise _parse_error(f"not valid {fmt.upper()}: {error}") from None
    if not isinstance(document, dict):
        raise _parse_error(f"expected an object, got {type(document).__name__}")
    definition = workflow_pb2.WorkflowDefinition()
    try:
        json_format.ParseDict(document, definition)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as error:
        raise _parse_error(f"not a WorkflowDefinition: {error}") from None
    return definition


def load_definition_file(path: Path) -> workflow_pb2.WorkflowDefinition:
    """Read a .yaml/.yml/.json definition file."""
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower(), "yaml")
    try:
        return parse_definition(path.read_text(encoding="utf-8"), fmt=fmt)
    except InvalidArgument as error:
        raise InvalidArgument(
            f"{path}: {error.message}", reason=INVALID_DEFINITION_REASON
        ) from None


def seed_definitions() -> list[workflow_pb2.WorkflowDefinition]:
    """The definitions shipped in orchestrator/workflows/definitions, by file name."""
    folder = resources.files("orchestrator.workflows").joinpath("definitions")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith((".yaml", ".yml", ".json"))),
        key=lambda entry: entry.name,
    )
    definitions = []
    for entry in files:
        fmt: DefinitionFormat = "json" if entry.name.endswith(".json") else "yaml"
        try:
            definitions.append(parse_definition(entry.read_text(encoding="utf-8"), fmt=fmt))
        except InvalidArgument as error:
            raise InvalidArgument(
                f"{entry.name}: {error.message}", reason=INVALID_DEFINITION_REASON
            ) from None
    return definitions


def _parse_error(message: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid workflow definition: {message}", reason=INVALID_DEFINITION_REASON
    )
