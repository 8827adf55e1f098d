"""The recommendation sentences of the advice: one per finding, for people."""

from __future__ import annotations

from orchestrator.analytics.findings import (
    BreakerFinding,
    CacheFinding,
    ParallelismFinding,
    PathFinding,
    RetryFinding,
)

#: Below this share of the ideal speedup, runs lose time beyond the critical path.
LOW_EFFICIENCY = 0.8
#: An ideal speedup below this means the DAG is (nearly) a chain.
NO_PARALLELISM = 1.05


def duration_text(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _times(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _short(method: str) -> str:
    """The method name alone, without its service."""
    return method.rpartition("/")[2]


def critical_path_text(
    path: PathFinding,
    cache: CacheFinding | None = None,
    retry: RetryFinding | None = None,
) -> str:
    """`cache` and `retry`: the findings of the path's biggest step, if it has some."""
    top = max(path.steps, key=lambda step: step.share)
    chain = " -> ".join(step.step_id for step in path.steps)
    text = (
        f"step {top.step_id} is {top.share:.0%} of the critical path {chain} "
        f"({duration_text(top.mean_s)} of {duration_text(path.mean_length_s)} on average; "
        f"the critical path of {path.run_count} of {path.runs_measured} runs): "
    )
    if len(path.steps) == 1:
        text += "the runs take as long as this step; only a faster step shortens them"
    else:
        text += (
            f"a faster {top.step_id} shortens every such run, while speeding up a step off "
            "the path does not"
        )
    if cache is not None:
        text += (
            f"; {cache.repeated_calls} of its calls repeated an earlier request "
            "(see its cache candidate)"
        )
    if retry is not None:
        text += f"; {duration_text(retry.retry_time_s)} of its time went to retries"
    return text


def parallelism_text(found: ParallelismFinding) -> str:
    ideal, measured = found.ideal_speedup, found.measured_speedup
    if ideal < NO_PARALLELISM:
        return (
            f"the steps run one after another (ideal parallel speedup {ideal:.2f}x): the DAG's "
            "dependencies leave nothing to run at once; only shorter steps on the critical "
            "path shorten the runs"
        )
    efficiency = measured / ideal if ideal else 0.0
    text = (
        f"measured speedup {measured:.2f}x of an ideal {ideal:.2f}x ({efficiency:.0%}): "
        f"runs took {duration_text(found.mean_run_s)} against a critical path of "
        f"{duration_text(found.mean_critical_path_s)} and {duration_text(found.mean_step_time_s)} "
        "of step time"
    )
    if efficiency < LOW_EFFICIENCY:
        overhead = found.mean_run_s - found.mean_critical_path_s
        return text + (
            f"; {duration_text(overhead)} per run went beyond the critical path: look for "
            "waits on bulkhead slots (AURA_MAX_IN_FLIGHT_PER_SERVICE), backends slowing down "
            "under parallel calls, or a busy orchestrator"
        )
    return text + "; the independent steps already run in parallel"


def cache_text(found: CacheFinding) -> str:
    text = (
        f"step {found.step_id} sent {found.repeated_calls} of its {found.calls} calls to "
        f"{found.method} with a request it had sent before ({found.distinct} distinct "
        f"{'request' if found.distinct == 1 else 'requests'}), costing "
        f"{duration_text(found.repeated_time_s)}"
    )
    gap = f" (repeats came a median {duration_text(found.median_gap_s)} apart)"
    if found.cached:
        return text + (
            f"; its cache policy missed them{gap}: a longer ttl, or more room "
            "(AURA_RESPONSE_CACHE_MAX_ENTRIES), would answer them without a call"
        )
    return text + (
        f"; if {_short(found.method)} is an idempotent read, a cache policy "
        f"(cache: {{ttl: ...}}) with a ttl above the interval between repeats{gap} would "
        "answer them without a call"
    )


def retry_text(found: RetryFinding) -> str:
    text = (
        f"step {found.step_id} retried {_times(found.retries, 'time')} in "
        f"{_times(found.executions, 'execution')}, "
        f"spending {duration_text(found.retry_time_s)} on failed attempts and backoff"
    )
    if found.failed:
        text += f"; {_times(found.failed, 'execution')} failed for good"
    if found.top_error:
        text += f"; most failed attempts were {found.top_error}"
    return text + (
        f": the fix is in {found.service} (its errors, capacity or timeouts); until then "
        "a shorter initial_backoff waits less, and a fallback answers when it stays down"
    )


def breaker_text(found: BreakerFinding) -> str:
    parts: list[str] = []
    if found.rejections:
        parts.append(
            f"{_times(found.rejections, 'attempt')} of this definition's steps refused by its "
            f"open circuit ({_times(found.failed_steps, 'step')} failed for good)"
        )
    if found.trips:
        parts.append(f"its breakers opened {_times(found.trips, 'time')} on this replica")
    if found.open_now:
        parts.append("its circuit is open now")
    return (
        f"{found.service}: "
        + "; ".join(parts)
        + ": the service was failing and the breaker spared it the load; see `aura services` "
        "for its health and errors; a fallback (fallback: method or last_good_answer) keeps "
        "steps answering while it is open"
    )
