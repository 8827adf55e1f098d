"""WorkflowRunView (AIP-157): how much of a run Get and List return.

BASIC List runs come from the store's projection rows (`RunRecord`), without reading any
history. FULL List runs are folded one by one, so a FULL page is bounded: at most
MAX_FULL_PAGE_SIZE runs, and it stops before its runs pass FULL_PAGE_MAX_BYTES (a page
always holds one run), to stay within gRPC's default 4 MiB message limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from aura.orchestrator.v1 import orchestrator_pb2, run_pb2
from orchestrator.errors import FieldViolation, InvalidArgument, NotFound
from orchestrator.runs import PageCursor, RunFilter, encode_page_token
from orchestrator.store import RunRecord

BASIC: Final = orchestrator_pb2.WORKFLOW_RUN_VIEW_BASIC
FULL: Final = orchestrator_pb2.WORKFLOW_RUN_VIEW_FULL
MAX_FULL_PAGE_SIZE: Final = 100
FULL_PAGE_MAX_BYTES: Final = 3 * 1024 * 1024


def resolve_view(view: int, default: int) -> int:
    """The requested view, `default` when unset; InvalidArgument on "view" if unknown."""
    if view == orchestrator_pb2.WORKFLOW_RUN_VIEW_UNSPECIFIED:
        return default
    if view not in (BASIC, FULL):
        raise InvalidArgument(
            f"unknown view {view}",
            violations=[FieldViolation("view", "WORKFLOW_RUN_VIEW_BASIC or _FULL")],
        )
    return view


def run_from_record(record: RunRecord) -> run_pb2.WorkflowRun:
    """The BASIC run of a projection row."""
    run = run_pb2.WorkflowRun(
        name=record.name,
        workflow_definition=record.workflow_definition,
        state=record.state,  # type: ignore[arg-type]
        labels=record.labels,
        request_id=record.request_id,
        last_event_seq=record.last_seq,
        tenant=record.tenant,
    )
    run.create_time.FromMicroseconds(_microseconds(record.create_time))
    if record.end_time is not None:
        run.end_time.FromMicroseconds(_microseconds(record.end_time))
    return run


def without_input_and_outputs(run: run_pb2.WorkflowRun) -> run_pb2.WorkflowRun:
    """A folded run cut down to the BASIC view of GetWorkflowRun."""
    run.ClearField("input")
    for step in run.steps:
        step.ClearField("output")
    return run


async def full_page(
    records: Sequence[RunRecord],
    next_token: str,
    run_filter: RunFilter,
    fold: Callable[[str], Awaitable[run_pb2.WorkflowRun]],
) -> orchestrator_pb2.ListWorkflowRunsResponse:
    """The FULL runs of `records` (a run gone since it was listed is left out), stopping
    early once the page would pass FULL_PAGE_MAX_BYTES; the token then continues right
    after the last run kept."""
    response = orchestrator_pb2.ListWorkflowRunsResponse(next_page_token=next_token)
    size = 0
    for index, record in enumerate(records):
        try:
            run = await fold(record.name)
        except NotFound:
            continue  # deleted since it was listed
        size += run.ByteSize()
        if response.workflow_runs and size > FULL_PAGE_MAX_BYTES:
            last = records[index - 1]
            cursor = PageCursor(create_time_us=_microseconds(last.create_time), name=last.name)
            response.next_page_token = encode_page_token(cursor, run_filter)
            break
        response.workflow_runs.append(run)
    return response


def _microseconds(unix_s: float) -> int:
    return round(unix_s * 1_000_000)
