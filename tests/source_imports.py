"""The import statements of a source tree, read with `ast` (nothing is imported)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ImportEdge:
    importer: str
    """Dotted name of the importing module (a package's `__init__` is the package)."""
    imported: str
    """Dotted name of the module imported: `from a.b import c` is `a.b.c` when c is a module."""
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> dict[str, Path]:
    """Every module under the top-level `package`, by dotted name."""
    return {module_name(path): path for path in sorted((ROOT / package).rglob("*.py"))}


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(module: str, path: Path) -> list[ImportEdge]:
    """Every import in the module, lazy ones inside functions included."""
    is_package = path.name == "__init__.py"
    edges = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            edges += [ImportEdge(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                imported = target if _is_module(target) else base
                edges.append(ImportEdge(module, imported, node.lineno))
    return edges


def all_imports(*packages: str) -> list[ImportEdge]:
    return [
        edge
        for package in packages
        for module, path in modules(package).items()
        for edge in imports_of(module, path)
    ]
