"""A run that cannot be resumed never stops the orchestrator from starting.

The data directory holds runs a crash left unfinished: good ones next to runs that
cannot go on (their definition is gone, their input no longer converts, a recorded
output does not unpack, an event does not read). Start succeeds; each bad run ends
FAILED with reason RESUME_FAILED and its cause; the good ones finish.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from google.protobuf import any_pb2, struct_pb2
from google.rpc import error_details_pb2

from aura.image.v1 import image_pb2
from aura.orchestrator.v1 import run_pb2
from mock_services.mesh import MockMesh
from orchestrator.runs import EVERY_TENANT
from orchestrator.server import OrchestratorServer
from orchestrator.store import SqliteRunStore
from orchestrator.workflows import seed_definitions
from tests.integration.orchestrator_helpers import STYLE_INPUT, settings_for, struct

pytestmark = pytest.mark.integration

STYLE = "workflowDefinitions/complete_style_analysis"


def _event(name: str, seq: int, **kind: object) -> run_pb2.RunEvent:
    event = run_pb2.RunEvent(run=name, seq=seq, **kind)  # type: ignore[arg-type]
    event.time.FromNanoseconds(time.time_ns())
    return event


def _created(name: str, definition: str, run_input: struct_pb2.Struct) -> run_pb2.RunEvent:
    seed = next(d for d in seed_definitions() if d.name == STYLE)
    created = run_pb2.RunCreated(
        workflow_definition=definition,
        input=run_input,
        steps=[
            run_pb2.StepRun(step_id=s.id, method=s.method, optional=s.optional) for s in seed.steps
        ],
    )
    created.expire_time.FromNanoseconds(time.time_ns() + 30 * 10**9)
    return _event(name, 1, run_created=created)


async def _store_history(store: SqliteRunStore, events: list[run_pb2.RunEvent]) -> None:
    await store.create_run(events[0], request_id="", fingerprint=events[0].run)
    if len(events) > 1:
        await store.append(events[1:])


def _not_convertible_input() -> struct_pb2.Struct:
    run_input = struct(STYLE_INPUT)
    run_input.fields["budget"].number_value = float("nan")  # no JSON for it
    return run_input


def _garbled_image_output() -> any_pb2.Any:
    return any_pb2.Any(
        type_url="type.googleapis.com/" + image_pb2.AnalyzeImageResponse.DESCRIPTOR.full_name,
        value=b"\xff\xff\xff",
    )


def _error_info(run: run_pb2.WorkflowRun) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in run.error.details), run.error
    return info


async def test_start_succeeds_bad_runs_end_resume_failed_and_the_others_finish(
    mesh: MockMesh, tmp_path: Path
) -> None:
    settings = settings_for(mesh, tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    good = ["workflowRuns/good-created", "workflowRuns/good-started"]
    retired, nan = "workflowRuns/retired-definition", "workflowRuns/nan-input"
    garbled, unreadable = "workflowRuns/garbled-output", "workflowRuns/unreadable-event"
    # Bad run -> what its error message names.
    bad = {retired: "workflowDefinitions/retired", nan: "NaN", garbled: "image", unreadable: ""}
    async with SqliteRunStore(settings.database_path) as store:
        run_input = struct(STYLE_INPUT)
        await _store_history(store, [_created(good[0], STYLE, run_input)])
        await _store_history(
            store, [_created(good[1], STYLE, run_input), _event(good[1], 2, run_started={})]
        )
        await _store_history(store, [_created(retired, "workflowDefinitions/retired", run_input)])
        await _store_history(store, [_created(nan, STYLE, _not_convertible_input())])
        await _store_history(
            store,
            [
                _created(garbled, STYLE, run_input),
                _event(garbled, 2, run_started={}),
                _event(garbled, 3, step_started={"step_id": "image", "attempt": 1}),
                _event(
                    garbled,
                    4,
                    step_succeeded={
                        "step_id": "image",
                        "attempt": 1,
                        "output": _garbled_image_output(),
                    },
                ),
            ],
        )
        await _store_history(
            store, [_created(unreadable, STYLE, run_input), _event(unreadable, 2, run_started={})]
        )
    with sqlite3.connect(settings.database_path) as db:  # a torn page, say
        db.execute(
            "UPDATE events SET body = x'ffffffff' WHERE seq = 2 AND "
            "run_id = (SELECT id FROM runs WHERE name = ?)",
            (unreadable,),
        )

    server = OrchestratorServer(settings)
    await server.start()
    try:
        for name in good:
            run = await server.engine.wait_finished(name)
            assert run.state == run_pb2.RUN_STATE_SUCCEEDED, (name, run.error)
        for name, cause in bad.items():
            record = await server.store.get_run_record(name, scope=EVERY_TENANT)
            assert record is not None and record.state == run_pb2.RUN_STATE_FAILED, name
            if name == unreadable:
                continue  # its history does not fold; its row says how it ended
            run = await server.engine.get_run(name, scope=EVERY_TENANT)
            info = _error_info(run)
            assert (info.reason, info.domain) == ("RESUME_FAILED", "orchestrator.aura")
            assert cause in run.error.message, run.error.message
            assert all(
                s.state in (run_pb2.STEP_STATE_SUCCEEDED, run_pb2.STEP_STATE_CANCELLED)
                for s in run.steps
            ), name
        assert server.engine.active_run_count == 0
    finally:
        await server.stop(grace_s=0.5)

    # The next start finds nothing left to resume.
    again = OrchestratorServer(settings)
    await again.start()
    try:
        assert await again.store.unfinished_runs() == []
    finally:
        await again.stop(grace_s=0.5)
