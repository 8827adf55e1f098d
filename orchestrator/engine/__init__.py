"""The engine: plans and executes workflow runs over the mesh."""

from orchestrator.engine.catalog import DefinitionCatalog, definition_name
from orchestrator.engine.engine import FINAL_RUN_STATES, Engine, RunSpec, run_name

__all__ = [
    "FINAL_RUN_STATES",
    "DefinitionCatalog",
    "Engine",
    "RunSpec",
    "definition_name",
    "run_name",
]
