"""Shared vocabulary, defined once at the bottom of the tree: resource-name prefixes
(AIP-122) and the backend service table. Imports nothing from the product."""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "DEFAULT_SERVICES",
    "DEFAULT_TENANT",
    "DEFINITION_ID_PATTERN",
    "DEFINITION_NAME_PATTERN",
    "DEFINITION_PREFIX",
    "RUN_PREFIX",
    "definition_name",
    "run_name",
]

RUN_PREFIX: Final = "workflowRuns/"
#: The tenant of every run and caller when the orchestrator asks for no tokens.
DEFAULT_TENANT: Final = "default"
DEFINITION_PREFIX: Final = "workflowDefinitions/"
#: A definition id: a lowercase letter, then up to 62 lowercase letters, digits or `_`.
DEFINITION_ID_PATTERN: Final = re.compile(r"[a-z][a-z0-9_]{0,62}")
DEFINITION_NAME_PATTERN: Final = re.compile(
    re.escape(DEFINITION_PREFIX) + DEFINITION_ID_PATTERN.pattern
)

# Service full name -> (short name, default port). Ports follow the original design. The
# mock services keep their own listening ports (they are separate programs and import
# nothing from the product); a unit test checks the two tables agree.
DEFAULT_SERVICES: Final[dict[str, tuple[str, int]]] = {
    "aura.image.v1.ImageProcessingService": ("image", 8001),
    "aura.nlu.v1.NluService": ("nlu", 8002),
    "aura.style.v1.StyleProfileService": ("style", 8003),
    "aura.combination.v1.CombinationEngineService": ("combination", 8004),
    "aura.recommendation.v1.RecommendationEngineService": ("recommendation", 8005),
}


def run_name(name_or_id: str) -> str:
    """Accepts "workflowRuns/x" or the bare id "x"."""
    return name_or_id if name_or_id.startswith(RUN_PREFIX) else RUN_PREFIX + name_or_id


def definition_name(name_or_id: str) -> str:
    """Accepts "workflowDefinitions/x" or the bare id "x"."""
    return (
        name_or_id if name_or_id.startswith(DEFINITION_PREFIX) else DEFINITION_PREFIX + name_or_id
    )
