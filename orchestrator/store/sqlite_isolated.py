"""The careful write path: one request at a time, each in its own savepoint.

Used only when a batch's fast path found a problem; a bad request then fails alone with
an error that says what is wrong, and the rest of the batch still commits.
"""

from __future__ import annotations

import sqlite3

from orchestrator.errors import AlreadyExists, AuraError
from orchestrator.runs import FINAL_RUN_STATES, request_id_of
from orchestrator.store.base import EventSequenceConflict
from orchestrator.store.sqlite_requests import (
    RUN_RESOURCE,
    AppendRequest,
    CreateRequest,
    RunAdvance,
    new_run_row,
    run_not_found,
)
from orchestrator.store.sqlite_schema import ACTIVE, QUEUED_STATE

_INSERT_RUN = (
    "INSERT INTO runs (name, workflow_definition, state, create_time_us, labels, request_id, "
    "fingerprint, priority, run_tenant, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
)
_INSERT_EVENT = "INSERT INTO events (run_id, seq, body) VALUES (?, ?, ?)"
_ADVANCE_RUN = (
    "UPDATE runs SET last_seq = ?, state = coalesce(?, state), "
    "end_time_us = coalesce(?, end_time_us) "
    f"WHERE name = ? AND last_seq = ? AND {ACTIVE} RETURNING id"
)


class _Rejected(Exception):
    def __init__(self, error: AuraError) -> None:
        super().__init__(error.message)
        self.error = error


def reused_request_id(request: CreateRequest, existing_run: str) -> AlreadyExists:
    request_id = request_id_of(request.request_id)
    return AlreadyExists(
        f"request_id {request_id!r} was already used for a different request (run {existing_run})",
        reason="REQUEST_ID_REUSED",
        metadata={"request_id": request_id, "run": existing_run},
        resource_type=RUN_RESOURCE,
        resource_name=existing_run,
    )


def create_isolated(db: sqlite3.Connection, request: CreateRequest) -> tuple[str, bool] | AuraError:
    event = request.event
    existing = _existing_request(db, request)
    if existing is not None:
        return existing
    db.execute("SAVEPOINT create_run")
    try:
        run_id = db.execute(_INSERT_RUN, new_run_row(request)).lastrowid
        db.execute(_INSERT_EVENT, (run_id, 1, event.SerializeToString()))
    except sqlite3.IntegrityError:
        db.execute("ROLLBACK TO create_run")
        db.execute("RELEASE create_run")
        # Another process may have taken the request_id meanwhile (its unique index fired).
        return _existing_request(db, request) or AlreadyExists(
            f"run {event.run} already exists",
            reason="RUN_EXISTS",
            resource_type=RUN_RESOURCE,
            resource_name=event.run,
        )
    db.execute("RELEASE create_run")
    return (event.run, True)


def _existing_request(
    db: sqlite3.Connection, request: CreateRequest
) -> tuple[str, bool] | AuraError | None:
    """The outcome for a request_id already used, or None if it is new (or empty)."""
    if not request.request_id:
        return None
    row = db.execute(
        "SELECT name, fingerprint FROM runs WHERE request_id = ?", (request.request_id,)
    ).fetchone()
    if row is None:
        return None
    name, fingerprint = row
    if fingerprint == request.fingerprint:
        return (name, False)
    return reused_request_id(request, name)


def append_isolated(db: sqlite3.Connection, request: AppendRequest) -> AuraError | None:
    """Appends one request's events, or returns why it cannot (nothing written then)."""
    advances: dict[str, RunAdvance] = {}
    for event in request.events:
        advance = advances.get(event.run)
        if advance is None:
            advance = advances[event.run] = RunAdvance(event.seq)
        problem = advance.add(event)
        if problem is not None:
            return EventSequenceConflict(f"cannot append to {event.run}: {problem}")
    db.execute("SAVEPOINT append_one")
    try:
        run_ids: dict[str, int] = {}
        for run, advance in advances.items():
            advanced = db.execute(_ADVANCE_RUN, advance.row(run)).fetchall()
            if not advanced:
                raise _Rejected(_explain_rejection(db, run, advance))
            run_ids[run] = advanced[0][0]
        db.executemany(
            _INSERT_EVENT,
            [
                (run_ids[event.run], event.seq, event.SerializeToString())
                for event in request.events
            ],
        )
    except (sqlite3.IntegrityError, _Rejected) as error:
        db.execute("ROLLBACK TO append_one")
        db.execute("RELEASE append_one")
        if isinstance(error, _Rejected):
            return error.error
        return EventSequenceConflict(f"cannot append events: {error}")
    db.execute("RELEASE append_one")
    return None


def _explain_rejection(db: sqlite3.Connection, run: str, advance: RunAdvance) -> AuraError:
    row = db.execute("SELECT last_seq, state FROM runs WHERE name = ?", (run,)).fetchone()
    if row is None:
        return run_not_found(run, f"cannot append to {run}: no such run")
    last_seq, state = row
    first = advance.expected_last_seq + 1
    if state in FINAL_RUN_STATES:
        return EventSequenceConflict(
            f"cannot append seq {first} to {run}: the run finished at seq {last_seq}"
        )
    if state == QUEUED_STATE:
        return EventSequenceConflict(
            f"cannot append seq {first} to {run}: the run is queued; claim it first"
        )
    return EventSequenceConflict(
        f"cannot append seq {first} to {run}: its last seq is {last_seq}, "
        f"so the next must be {last_seq + 1}"
    )
