"""References from a step to the run input ("input.<key>...") or to an earlier
step's response ("steps.<id>[.<field path>]"), and lookups in the run input."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ID_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
"""Step ids and definition ids."""

INPUT_KEY_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""One key of the run input; dots separate nested keys."""


@dataclass(frozen=True)
class InputRef:
    """A value of the run input: `keys` walks nested objects."""

    keys: tuple[str, ...]

    @property
    def text(self) -> str:
        return "input." + ".".join(self.keys)


@dataclass(frozen=True)
class StepRef:
    """An earlier step's response (`path` empty) or a field of it."""

    step_id: str
    path: str

    @property
    def text(self) -> str:
        return f"steps.{self.step_id}" + (f".{self.path}" if self.path else "")


Ref = InputRef | StepRef


class RefSyntaxError(ValueError):
    """A reference that is not well-formed; the message says why."""


def parse_ref(text: str) -> Ref:
    """Parse "input.<key>[.<key>...]" or "steps.<step_id>[.<field path>]"."""
    if not text:
        raise RefSyntaxError("the reference is empty")
    root, _, rest = text.partition(".")
    if root == "input":
        keys = tuple(rest.split(".")) if rest else ()
        if not keys:
            raise RefSyntaxError(f'"{text}" names no input key (expected "input.<key>")')
        for key in keys:
            if not INPUT_KEY_PATTERN.fullmatch(key):
                raise RefSyntaxError(
                    f'"{text}": input key "{key}" must match {INPUT_KEY_PATTERN.pattern}'
                )
        return InputRef(keys)
    if root == "steps":
        step_id, _, path = rest.partition(".")
        if not ID_PATTERN.fullmatch(step_id):
            raise RefSyntaxError(
                f'"{text}": "{step_id}" is not a step id (expected "steps.<step_id>[.<field>]")'
            )
        if rest.endswith(".") or ".." in path:
            raise RefSyntaxError(f'"{text}" has an empty field name')
        return StepRef(step_id, path)
    raise RefSyntaxError(f'"{text}" must start with "input." or "steps."')


class _Missing(enum.Enum):
    MISSING = "MISSING"


MISSING: Final = _Missing.MISSING
"""What `lookup_input` returns for a key that is absent or null."""


class InputShapeError(ValueError):
    """A run input value that should be an object, to look a nested key up in, is not."""

    def __init__(self, prefix: str) -> None:
        super().__init__(f"{prefix} is not an object")
        self.prefix = prefix


def lookup_input(run_input: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value at `keys`, or MISSING when a key is absent or the value is null."""
    value: Any = run_input
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping):
            raise InputShapeError("input." + ".".join(keys[:depth]))
        value = value.get(key)
        if value is None:
            return MISSING
    return value
