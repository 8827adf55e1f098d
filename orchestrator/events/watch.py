"""Gap-free watching of a run: history from the store, then live events from the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import SHUTDOWN_RETRY_AFTER_S, Unavailable, run_not_found, shutting_down
from orchestrator.events.hub import EventHub, HubShutDown, SubscriptionLagged
from orchestrator.runs import TenantScope, is_final_state
from orchestrator.store import RunStore

__all__ = ["SHUTDOWN_RETRY_AFTER_S", "watch_run"]


async def watch_run(
    store: RunStore, hub: EventHub, run: str, after_seq: int = 0, *, scope: TenantScope
) -> AsyncIterator[run_pb2.RunEvent]:
    """Every event of `run` with seq > `after_seq`, exactly once, in order, live.

    Ends after the `run_finished` event, or at once if the run is finished and
    `after_seq` is at or past its last event; a live run watched from at or past what
    will be its last event ends when that event commits (nothing is yielded).
    `NotFound` if there is no such run (or it is another tenant's than `scope`'s, which
    the store never reads out); `Unavailable` (reason SHUTTING_DOWN, RetryInfo,
    `after_seq` in its metadata) if the hub shuts down before the run ends.

    Why there is no gap: the subscription opens BEFORE the store is read, and the hub
    only sees committed events. An event committed before the read is in the read; one
    committed after the subscription is in the subscription; one committed in between
    is in both and is skipped the second time (seq <= last yielded). If the live stream
    ever skips a seq (the subscription lagged), the store fills the hole the same way.
    """
    last_seq = after_seq
    while True:
        with hub.subscribe(run) as subscription:
            events = await store.read_events(run, after_seq=last_seq, scope=scope)
            if not events:
                # Nothing after last_seq: no such run (for this scope), a finished run
                # watched from its end, or a live one between events. With events, the
                # read alone says it: they end with run_finished or the run is live.
                record = await store.get_run_record(run, scope=scope)
                if record is None:
                    raise run_not_found(run)
                if is_final_state(record.state) and last_seq >= record.last_seq:
                    return
            for event in events:
                last_seq = event.seq
                yield event
                if event.HasField("run_finished"):
                    return
            # A live stream can stay open for the run's whole life: what it replayed
            # is not kept meanwhile (about 0.8 KiB per parsed event).
            del events
            try:
                async for event in subscription:
                    if event.seq <= last_seq:
                        if event.HasField("run_finished"):
                            return  # the run ended at or before `after_seq`
                        continue
                    if event.seq != last_seq + 1:
                        break  # a hole: catch up from the store
                    last_seq = event.seq
                    yield event
                    if event.HasField("run_finished"):
                        return
            except SubscriptionLagged:
                pass  # catch up from the store
            except HubShutDown:
                raise _shutting_down(run, last_seq) from None


def _shutting_down(run: str, last_seq: int) -> Unavailable:
    return shutting_down(
        f"the orchestrator is shutting down; watch {run} again with after_seq={last_seq}",
        run=run,
        metadata={"after_seq": str(last_seq)},
    )
