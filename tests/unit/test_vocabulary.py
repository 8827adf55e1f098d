"""Shared vocabulary is defined once, in `orchestrator/names.py`."""

from __future__ import annotations

import ast

from mock_services.registry import SERVICES
from orchestrator.names import DEFAULT_SERVICES, DEFINITION_PREFIX, RUN_PREFIX
from tests.source_imports import modules

# Still spells the prefixes itself; delete this entry when it imports them from names.
PENDING_MODULES = {"orchestrator.telemetry.tracing"}


def test_resource_name_prefixes_are_spelled_only_in_names() -> None:
    spelled = [
        f"{module}:{node.lineno} {node.value!r}"
        for module, path in modules("orchestrator").items()
        if module not in {"orchestrator.names", *PENDING_MODULES}
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and node.value in (RUN_PREFIX, DEFINITION_PREFIX)
    ]
    assert spelled == []


def test_mocks_listen_where_the_product_looks_for_them_by_default() -> None:
    """The mocks keep their own table (they import nothing from the product); it agrees
    with the product's default addresses."""
    mocks = {spec.service_name: (spec.name, spec.default_port) for spec in SERVICES.values()}
    assert mocks == DEFAULT_SERVICES
