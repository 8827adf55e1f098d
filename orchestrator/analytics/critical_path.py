"""The measured critical path of one run: the chain of steps that decided its duration.

Each step finishes, at the earliest, its own measured duration after the last of its
dependencies finished; the step that finishes last ends the longest chain. Steps that
took no time (skipped, cancelled before starting, served from the cache) never lengthen
a chain and are left out of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def critical_path(
    order: Sequence[str],
    deps: Mapping[str, Iterable[str]],
    durations: Mapping[str, float],
) -> tuple[tuple[str, ...], float]:
    """The chain (first step first) and its length in seconds.

    `order` lists the steps dependencies first (a topological order); ties between
    equally long chains go to the step earlier in it. A step missing from `durations`
    took no time.
    """
    position = {step_id: index for index, step_id in enumerate(order)}
    finish: dict[str, float] = {}
    before: dict[str, str | None] = {}
    for step_id in order:
        previous: str | None = None
        start = 0.0
        for dep in sorted(deps.get(step_id, ()), key=lambda d: position.get(d, len(order))):
            if dep in finish and (previous is None or finish[dep] > start):
                previous, start = dep, finish[dep]
        finish[step_id] = start + max(0.0, durations.get(step_id, 0.0))
        before[step_id] = previous
    if not finish:
        return (), 0.0
    last = max(order, key=lambda step_id: (finish[step_id], -position[step_id]))
    chain: list[str] = []
    current: str | None = last
    while current is not None:
        if durations.get(current, 0.0) > 0:
            chain.append(current)
        current = before[current]
    return tuple(reversed(chain)), finish[last]
