"""Which run states are final."""

from __future__ import annotations

from aura.orchestrator.v1 import run_pb2

#: A run in one of these states has recorded its `run_finished` event; no event follows.
FINAL_RUN_STATES: frozenset[int] = frozenset(
    {
        run_pb2.RUN_STATE_SUCCEEDED,
        run_pb2.RUN_STATE_PARTIALLY_SUCCEEDED,
        run_pb2.RUN_STATE_FAILED,
        run_pb2.RUN_STATE_CANCELLED,
    }
)


def is_final_state(state: int) -> bool:
    """True when a run in `state` is finished."""
    return state in FINAL_RUN_STATES
