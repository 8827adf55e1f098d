"""The engine: plans and executes workflow runs over the mesh."""

from orchestrator.engine.catalog import DefinitionCatalog, definition_name
from orchestrator.engine.engine import Engine, RunSpec, run_name

__all__ = [
    "DefinitionCatalog",
    "Engine",
    "RunSpec",
    "definition_name",
    "run_name",
]
