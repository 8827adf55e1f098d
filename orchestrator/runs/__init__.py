"""Runs as data: the fold of events into state, the list filter, page tokens."""

from orchestrator.runs.fold import RunFolder, fold_run
from orchestrator.runs.page_token import PageCursor, decode_page_token, encode_page_token
from orchestrator.runs.run_filter import (
    Condition,
    CreateTimeCondition,
    DefinitionCondition,
    LabelCondition,
    Operator,
    RunFilter,
    StateCondition,
    parse_run_filter,
)
from orchestrator.runs.states import FINAL_RUN_STATES, is_final_state
from orchestrator.runs.tenancy import (
    DEFAULT_TENANT,
    EVERY_TENANT,
    TenantScope,
    request_id_of,
    request_key,
)

__all__ = [
    "DEFAULT_TENANT",
    "EVERY_TENANT",
    "FINAL_RUN_STATES",
    "Condition",
    "CreateTimeCondition",
    "DefinitionCondition",
    "LabelCondition",
    "Operator",
    "PageCursor",
    "RunFilter",
    "RunFolder",
    "StateCondition",
    "TenantScope",
    "decode_page_token",
    "encode_page_token",
    "fold_run",
    "is_final_state",
    "parse_run_filter",
    "request_id_of",
    "request_key",
]
