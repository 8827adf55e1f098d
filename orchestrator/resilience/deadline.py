"""The deadline budget of a step: what is left of every deadline that bounds it.

A backend call gets min(step timeout, time left of the run, time left of the
caller that waits for the run) minus a margin for the answer to travel back.
When nothing is left the step fails without calling the backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Left for the response to travel back before the binding deadline passes.
DEFAULT_MARGIN_S = 0.005


@dataclass(frozen=True)
class AttemptBudget:
    timeout_s: float
    """The deadline to give the call; <= 0 means the budget is spent."""
    bound_by: str
    """Which deadline binds: "step", "run" or "caller"."""

    @property
    def spent(self) -> bool:
        return self.timeout_s <= 0


@dataclass(frozen=True)
class DeadlineBudget:
    """Absolute deadlines on `clock` (time.monotonic by default)."""

    run_deadline: float
    caller_deadline: float | None = None
    margin_s: float = DEFAULT_MARGIN_S
    clock: Callable[[], float] = time.monotonic

    def time_left_s(self) -> float:
        """Until the earliest of the run's and the caller's deadline, minus the margin."""
        deadline = self.run_deadline
        if self.caller_deadline is not None:
            deadline = min(deadline, self.caller_deadline)
        return deadline - self.clock() - self.margin_s

    def for_attempt(self, step_timeout_s: float) -> AttemptBudget:
        now = self.clock()
        candidates = [("step", step_timeout_s), ("run", self.run_deadline - now - self.margin_s)]
        if self.caller_deadline is not None:
            candidates.append(("caller", self.caller_deadline - now - self.margin_s))
        bound_by, timeout_s = min(candidates, key=lambda item: item[1])
        return AttemptBudget(timeout_s, bound_by)
