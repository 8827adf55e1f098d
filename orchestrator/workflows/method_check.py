"""Checks a method name of a definition (a step's, or its fallback's) against the registry."""

from __future__ import annotations

import re
from typing import Final

from orchestrator.errors import ViolationCollector
from orchestrator.workflows.registry import MethodInfo, MethodRegistry

MAX_METHOD_LENGTH: Final = 256
_METHOD_PATTERN: Final = re.compile(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*/[A-Za-z_]\w*")


def check_method(
    name: str, path: str, label: str, registry: MethodRegistry, collector: ViolationCollector
) -> MethodInfo | None:
    """The unary method `name` refers to, or None with the problem added at `path`."""
    if len(name) > MAX_METHOD_LENGTH:
        collector.add(path, f"{label}: method is at most {MAX_METHOD_LENGTH} characters")
        return None
    if not name:
        collector.add(
            path, f'{label}: method is required, e.g. "aura.nlu.v1.NluService/AnalyzeText"'
        )
        return None
    if not _METHOD_PATTERN.fullmatch(name):
        collector.add(
            path,
            f'{label}: method "{name}" must be a full method name '
            '"package.Service/Method", e.g. "aura.nlu.v1.NluService/AnalyzeText"',
        )
        return None
    method = registry.resolve(name)
    if method is None:
        collector.add(
            path,
            f'{label}: unknown method "{name}"; known services: ' + ", ".join(registry.services()),
        )
        return None
    if not method.unary:
        collector.add(path, f'{label}: method "{name}" streams; a step must be unary')
        return None
    return method
