"""What a store's commit writes to its outbox (orchestrator.bus.outbox): the bus events
of the run events it commits, derived in the commit's own transaction.

`run_created` -> run.created; `run_finished` -> run.finished; `step_failed` ->
step.failed. The latter two need the run's `run_created` (definition, input, labels,
step methods): from the same batch when it is there, otherwise read by the store in
the transaction (`runs_needing_creation`). Nothing else is an outbox entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format

from aura.orchestrator.v1 import run_pb2
from orchestrator.errors import status_code_of
from orchestrator.store.outbox_topics import TopicEvent, run_created, run_finished, step_failed

_PRODUCING = ("run_created", "run_finished", "step_failed")
#: Confirmed entries are kept this long (a stream keeps events 7 days: BusSettings).
OUTBOX_RETENTION_S = 7 * 24 * 3600.0
#: How often a confirmation also deletes confirmed entries past the retention.
OUTBOX_CLEAN_INTERVAL_S = 60.0


def outbox_window_s(outbox_retention_s: float, run_retention_s: float) -> float:
    """How long confirmed entries are kept and may be republished: at most the run
    retention, so a Redis emptied later never re-triggers runs already deleted."""
    window = max(0.0, outbox_retention_s)
    return min(window, run_retention_s) if run_retention_s > 0 else window


def produces_entries(event: run_pb2.RunEvent) -> bool:
    return event.WhichOneof("event") in _PRODUCING


def runs_needing_creation(committed: Sequence[run_pb2.RunEvent]) -> list[str]:
    """Runs with a finish or step failure in `committed` whose creation is not in it."""
    created = {event.run for event in committed if event.HasField("run_created")}
    needed = {
        event.run
        for event in committed
        if event.WhichOneof("event") in ("run_finished", "step_failed") and event.run not in created
    }
    return sorted(needed)


def _input(created: run_pb2.RunCreated) -> dict[str, Any]:
    return json_format.MessageToDict(created.input) if created.HasField("input") else {}


def code_name(number: int) -> str:
    """A google.rpc code as its gRPC name ("UNAVAILABLE"); "" for OK."""
    return "" if number == 0 else status_code_of(number).name


def _state_name(state: int) -> str:
    return run_pb2.RunState.Name(run_pb2.RunState.ValueType(state)).removeprefix("RUN_STATE_")


def topic_events(
    committed: Sequence[run_pb2.RunEvent], creations: Mapping[str, run_pb2.RunCreated]
) -> list[TopicEvent]:
    """The outbox entries of `committed`, in order; `creations`: run_created of runs
    created before this batch (missing ones: their later events give no entry)."""
    known = dict(creations)
    entries: list[TopicEvent] = []
    for event in committed:
        kind = event.WhichOneof("event")
        if kind == "run_created":
            created = event.run_created
            known[event.run] = created
            entries.append(
                run_created(
                    event.run,
                    created.workflow_definition,
                    _input(created),
                    created.labels,
                    created.request_id,
                    created.tenant,
                )
            )
            continue
        if kind not in ("run_finished", "step_failed"):
            continue
        origin = known.get(event.run)
        if origin is None:
            continue
        if kind == "run_finished":
            finished = event.run_finished
            entries.append(
                run_finished(
                    event.run,
                    origin.workflow_definition,
                    _state_name(finished.state),
                    _input(origin),
                    origin.labels,
                    code_name(finished.error.code) if finished.HasField("error") else "",
                    finished.error.message,
                    origin.tenant,
                )
            )
        else:
            failed = event.step_failed
            method = next(
                (step.method for step in origin.steps if step.step_id == failed.step_id), ""
            )
            entries.append(
                step_failed(
                    event.run,
                    origin.workflow_definition,
                    failed.step_id,
                    method,
                    failed.attempt,
                    code_name(failed.error.code),
                    failed.error.message,
                    origin.tenant,
                )
            )
    return entries


def creation_of(body: bytes) -> run_pb2.RunCreated:
    """The run_created of a stored first event (seq 1)."""
    return run_pb2.RunEvent.FromString(body).run_created
