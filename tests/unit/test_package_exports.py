"""Packages are used through their facades: another package imports what a package's
`__init__` names in `__all__`, never its inner modules or private names, and reads no
private field of another object."""

from __future__ import annotations

import ast
import importlib

from tests.source_imports import all_imports, modules

# step_runner still reaches into three inner modules; each name it needs is exported by
# the package (DEFAULT_MARGIN_S, MAX_LAST_GOOD_AGE_S; current_step is next for telemetry).
# Delete these entries as the imports move to the facades; nothing may be added here.
PENDING_INNER_IMPORTS = {
    ("orchestrator.engine.step_runner", "orchestrator.resilience.deadline"),
    ("orchestrator.engine.step_runner", "orchestrator.telemetry.tracing"),
    ("orchestrator.engine.step_runner", "orchestrator.workflows.fallbacks"),
}
# namedtuple's public API, despite the underscore.
NAMEDTUPLE_METHODS = {"_replace", "_asdict", "_fields", "_make"}


def _package(module: str) -> str:
    """The facade a module belongs to: `orchestrator.engine.catalog` -> `orchestrator.engine`."""
    return ".".join(module.split(".")[:2])


def _packages() -> list[str]:
    """The sub-packages (directories); a top-level module such as `names` is its own face."""
    return sorted(
        module
        for module, path in modules("orchestrator").items()
        if path.name == "__init__.py" and module != "orchestrator"
    )


def _cross_package_from_imports() -> list[tuple[str, ast.ImportFrom]]:
    """(importer, node) for every `from orchestrator.X... import` in another package."""
    found = []
    for module, path in modules("orchestrator").items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and (node.module or "").startswith("orchestrator.")
                and _package(node.module or "") != _package(module)
            ):
                found.append((module, node))
    return found


def test_other_packages_import_no_inner_module() -> None:
    inner = [
        str(edge)
        for edge in all_imports("orchestrator")
        if edge.imported.startswith("orchestrator.")
        and edge.imported != _package(edge.imported)
        and _package(edge.imported) != _package(edge.importer)
        and (edge.importer, edge.imported) not in PENDING_INNER_IMPORTS
    ]
    assert inner == []


def test_other_packages_import_only_what_a_facade_exports() -> None:
    unexported = []
    for importer, node in _cross_package_from_imports():
        if node.module != _package(node.module or ""):
            continue  # an inner module: reported by the test above
        facade = importlib.import_module(node.module or "")
        exported = getattr(facade, "__all__", None)
        unexported += [
            f"{importer}:{node.lineno} imports {alias.name} from {node.module}"
            for alias in node.names
            if (alias.name not in exported if exported is not None else alias.name[0] == "_")
        ]
    assert unexported == []


def test_no_private_field_of_another_object_is_read() -> None:
    reads = []
    for module, path in modules("orchestrator").items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in NAMEDTUPLE_METHODS
                and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
            ):
                reads.append(f"{module}:{node.lineno} reads {ast.unparse(node)}")
    assert reads == []


def test_every_package_names_its_public_face() -> None:
    missing = [package for package in _packages() if not _has_all(package)]
    assert missing == []


def test_every_exported_name_exists() -> None:
    broken = [
        f"{package}.{name}"
        for package in _packages()
        for name in getattr(importlib.import_module(package), "__all__", ())
        if not hasattr(importlib.import_module(package), name)
    ]
    assert broken == []


def _has_all(package: str) -> bool:
    return isinstance(getattr(importlib.import_module(package), "__all__", None), list)
