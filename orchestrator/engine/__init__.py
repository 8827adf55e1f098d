"""The engine: plans and executes workflow runs over the mesh."""

from orchestrator.engine.catalog import DefinitionCatalog
from orchestrator.engine.engine import Engine
from orchestrator.engine.run_spec import RunSpec
from orchestrator.engine.transaction_history import run_of_transaction, transaction_outcome
from orchestrator.names import definition_name, run_name

__all__ = [
    "DefinitionCatalog",
    "Engine",
    "RunSpec",
    "definition_name",
    "run_name",
    "run_of_transaction",
    "transaction_outcome",
]
