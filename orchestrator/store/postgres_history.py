"""Recent history in memory, for the runs this replica holds: `read_events` without SQL.

Only this replica writes a run it holds, so the events it committed are the run's whole
history: kept from the run's creation here until the run finishes (then among the last
`recent_runs` finished ones: a finished history never changes). A run created elsewhere
or claimed from another replica is read from the database, and a run lost to another
replica is dropped at once (its new owner writes on). Bodies are kept serialized, as
stored, for a parse on read (message objects cost about 14 KB a run more).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container, Iterable, Sequence

from aura.orchestrator.v1 import run_pb2


class RecentHistory:
    def __init__(self, recent_runs: int) -> None:
        self._live: dict[str, list[bytes]] = {}
        self._recent: OrderedDict[str, list[bytes]] = OrderedDict()
        self._recent_runs = max(0, recent_runs)

    def get(self, run: str, after_seq: int) -> list[run_pb2.RunEvent] | None:
        """The run's events after `after_seq`, or None when it is not kept here."""
        bodies = self._live.get(run)
        if bodies is None:
            bodies = self._recent.get(run)
        if bodies is None:
            return None
        parse = run_pb2.RunEvent.FromString
        return [parse(body) for body in bodies[max(0, after_seq) :]]  # seq n is at n - 1

    def remember(
        self,
        committed: Sequence[run_pb2.RunEvent],
        bodies: Sequence[bytes],
        held: Container[str],
    ) -> None:
        """Keeps committed events of `held` runs (a run queued here is not held: any
        replica may claim it)."""
        live = self._live
        for event, body in zip(committed, bodies, strict=True):
            events = live.get(event.run)
            if events is None:
                if event.seq != 1 or event.run not in held:
                    continue  # a run not created here: read from the database
                events = live[event.run] = []
            events.append(body)
            if event.WhichOneof("event") == "run_finished":
                del live[event.run]
                if self._recent_runs:
                    self._recent[event.run] = events
                    if len(self._recent) > self._recent_runs:
                        self._recent.popitem(last=False)

    def forget(self, runs: Iterable[str]) -> None:
        """Runs deleted, or lost to another replica."""
        for run in runs:
            self._live.pop(run, None)
            self._recent.pop(run, None)
