"""Metrics of two-phase commit and compensation, from committed run events.

- `aura_transactions_decided_total{definition, decision}`: commits and aborts;
- `aura_transaction_participants_in_doubt`: branches that voted YES and have not yet
  acknowledged the decision (they hold a change nobody may touch);
- `aura_transaction_resolve_seconds{decision}`: from a transaction's decision to its
  last acknowledgement (how long its participants stayed in doubt);
- `aura_compensations_total{definition, outcome}`: compensating calls, `undone` or
  `failed` (a failed one is retried).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2

RESOLVE_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_DECISION = {
    run_pb2.TRANSACTION_DECISION_COMMIT: "commit",
    run_pb2.TRANSACTION_DECISION_ABORT: "abort",
}


@dataclass
class _Open:
    in_doubt: set[str] = field(default_factory=set)
    decided_at: float | None = None
    decision: str = ""


class TransactionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decided = Counter(
            "aura_transactions_decided_total",
            "Transactions decided, by definition and decision (commit or abort).",
            ["definition", "decision"],
            registry=registry,
        )
        self.in_doubt = Gauge(
            "aura_transaction_participants_in_doubt",
            "Participants that voted YES and have not acknowledged the decision yet.",
            registry=registry,
        )
        self.resolve = Histogram(
            "aura_transaction_resolve_seconds",
            "Time from a transaction's decision to its last acknowledgement.",
            ["decision"],
            buckets=RESOLVE_BUCKETS_S,
            registry=registry,
        )
        self.compensations = Counter(
            "aura_compensations_total",
            "Compensating calls, by definition and outcome (undone or failed).",
            ["definition", "outcome"],
            registry=registry,
        )
        self._open: dict[str, _Open] = {}

    def observe(self, event: run_pb2.RunEvent, definition: str, at: float) -> None:
        kind = event.WhichOneof("event")
        if kind == "transaction_voted":
            voted = event.transaction_voted
            if voted.vote == participant_pb2.VOTE_YES:
                track = self._open.setdefault(voted.transaction_id, _Open())
                if voted.step_id not in track.in_doubt:
                    track.in_doubt.add(voted.step_id)
                    self.in_doubt.inc()
        elif kind == "transaction_decided":
            decided = event.transaction_decided
            name = _DECISION.get(decided.decision, "unknown")
            self.decided.labels(definition, name).inc()
            track = self._open.setdefault(decided.transaction_id, _Open())
            track.decided_at, track.decision = at, name
            self._maybe_resolved(decided.transaction_id, at)
        elif kind == "transaction_acknowledged":
            acked = event.transaction_acknowledged
            known = self._open.get(acked.transaction_id)
            if known is not None and acked.step_id in known.in_doubt:
                known.in_doubt.discard(acked.step_id)
                self.in_doubt.dec()
            self._maybe_resolved(acked.transaction_id, at)
        elif kind == "step_compensated":
            self.compensations.labels(definition, "undone").inc()
        elif kind == "compensation_attempt_failed":
            self.compensations.labels(definition, "failed").inc()

    def _maybe_resolved(self, transaction_id: str, at: float) -> None:
        track = self._open.get(transaction_id)
        if track is None or track.decided_at is None or track.in_doubt:
            return
        self.resolve.labels(track.decision).observe(max(0.0, at - track.decided_at))
        del self._open[transaction_id]

    def forget_run(self, run_id: str) -> None:
        """The run finished: its transactions are over (an abort need not reach NO voters)."""
        for transaction_id in [t for t in self._open if t.startswith(f"{run_id}/")]:
            track = self._open.pop(transaction_id)
            self.in_doubt.dec(len(track.in_doubt))
