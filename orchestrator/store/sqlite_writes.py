"""The write side of the SQLite run store: one transaction per batch of requests.

Runs on the store's writer thread only. `BatchWriter.write` takes everything queued
(run creations and event appends of many runs), writes it in ONE transaction and
reports an outcome per request, so a thousand appends cost one commit (group commit).

The fast path writes the whole batch in a handful of statements, each a single sqlite3
step whatever the row count (`sqlite_multirow`, JSON aggregates): new runs, then each
touched run's projection advanced once (its expected previous `last_seq` and "not
finished" checked in the same UPDATE), then every event row. If anything is off (a
duplicate or missing seq, an unknown or finished run, a name taken), the transaction
is rolled back and redone request by request (`sqlite_isolated`), so the bad request
fails alone and loudly while the others commit. A fault outside the requests (disk full,
I/O error: `sqlite_faults`) raises `StorageFault` instead: nothing was written, and the
store retries the batch. With the event bus on, the batch's outbox entries
(`sqlite_outbox`) are written last, in the same transaction, whichever path it took.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aura.orchestrator.v1 import run_pb2, workflow_pb2
from orchestrator.errors import AlreadyExists
from orchestrator.store import sqlite_outbox
from orchestrator.store.sqlite_faults import StorageFault, is_storage_fault
from orchestrator.store.sqlite_isolated import append_isolated, create_isolated, reused_request_id
from orchestrator.store.sqlite_multirow import MultiRowStatement, SqlValue
from orchestrator.store.sqlite_requests import (
    DEFINITION_RESOURCE,
    AppendRequest,
    CreateRequest,
    Outcome,
    RunAdvance,
    WriteRequest,
    WriteResult,
    new_run_row,
)
from orchestrator.store.sqlite_schema import ACTIVE

T = TypeVar("T")


class _FastPathFailed(Exception):
    pass


def _advances_of(
    requests: Sequence[WriteRequest],
) -> tuple[dict[str, RunAdvance], list[run_pb2.RunEvent]]:
    """Each appended-to run's advance, and the appended events in order.

    Raises `_FastPathFailed` when a run's seqs do not follow each other in the batch.
    """
    advances: dict[str, RunAdvance] = {}
    appended: list[run_pb2.RunEvent] = []
    for request in requests:
        if isinstance(request, AppendRequest):
            for event in request.events:
                advance = advances.get(event.run)
                if advance is None:
                    advance = advances[event.run] = RunAdvance(event.seq)
                if advance.add(event) is not None:
                    raise _FastPathFailed
            appended.extend(request.events)
    return advances, appended


def _merge_advances(
    new_runs: list[list[SqlValue]],
    created: list[run_pb2.RunEvent],
    advances: dict[str, RunAdvance],
) -> None:
    """A run created in this batch with events appended after it in the same batch (its
    run_started, at least) is inserted as they leave it, instead of inserted and then
    updated: one statement less for every new run's first commit. Only when the appends
    follow seq 1 and the run is not queued (the UPDATE refuses a queued run's events):
    anything else is left to the UPDATE, which fails the fast path as before."""
    for row, event in zip(new_runs, created, strict=True):
        advance = advances.get(event.run)
        if advance is None or advance.expected_last_seq != 1 or event.run_created.queued:
            continue
        del advances[event.run]
        if advance.state is not None:
            row[3] = advance.state
        row[10] = advance.end_time_us
        row[11] = advance.last_seq


class BatchWriter:
    """Owns the writer connection; every method runs on the writer thread."""

    def __init__(self, connection: sqlite3.Connection, *, outbox: bool = False) -> None:
        self._db = connection
        #: Write the bus's outbox entries of each batch in its transaction (sqlite_outbox).
        self._outbox = outbox
        self.outbox_writes = 0
        # With the outbox: run_created of the unfinished runs this writer created (queued
        # ones aside), so a finish or step failure needs no read of the run's first event.
        self._creations: dict[str, run_pb2.RunCreated] = {}
        self.commit_count = 0
        self.bytes_since_checkpoint = 0
        self.commits_since_checkpoint = 0
        limit = connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        # Run ids: the fast path numbers new runs itself and remembers the id of every
        # unfinished run it wrote, so a batch needs no query to find its runs' ids.
        self._next_id: int | None = None
        self._ids: dict[str, int] = {}
        self._insert_runs = MultiRowStatement(
            "INSERT INTO runs (id, name, workflow_definition, state, create_time_us, labels, "
            "request_id, fingerprint, priority, run_tenant, end_time_us, last_seq) "
            "SELECT column1, column2, column3, column4, column5, column6, column7, column8, "
            "column9, column10, column11, column12 FROM (VALUES {values}) "
            "WHERE column1 IS NOT NULL",
            12,
            variable_limit=limit,
        )
        self._advance_runs = MultiRowStatement(
            "UPDATE runs SET last_seq = v.column1, state = coalesce(v.column2, runs.state), "
            "end_time_us = coalesce(v.column3, runs.end_time_us) "
            "FROM (VALUES {values}) AS v "
            f"WHERE runs.name = v.column4 AND runs.last_seq = v.column5 AND runs.{ACTIVE}",
            5,
            variable_limit=limit,
        )
        self._insert_events = MultiRowStatement(
            "INSERT INTO events (run_id, seq, body) SELECT column1, column2, column3 "
            "FROM (VALUES {values}) WHERE column1 IS NOT NULL",
            3,
            variable_limit=limit,
        )

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> None:
        """Copies the WAL into the database file without waiting for readers."""
        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self.bytes_since_checkpoint = 0
        self.commits_since_checkpoint = 0

    def write(self, requests: Sequence[WriteRequest]) -> WriteResult:
        """Writes `requests` in one transaction.

        Returns an outcome per request and the committed events, in order (creations
        first, then appends: each run's events stay in seq order).
        """
        db = self._db
        learned: dict[str, int] = {}
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = self._write_fast(requests, learned)
            except (_FastPathFailed, sqlite3.IntegrityError):
                db.execute("ROLLBACK")
                self._next_id = None  # ids handed out in the rolled-back attempt are free
                learned.clear()
                db.execute("BEGIN IMMEDIATE")
                result = self._write_isolated(requests)
            entries = 0
            if self._outbox:
                entries = sqlite_outbox.write_for_commit(db, result[1], self._creations)
            db.execute("COMMIT")
        except Exception as error:
            self._roll_back()
            self._next_id = None
            if is_storage_fault(error):
                raise StorageFault(error) from error
            return [error] * len(requests), [], []
        self.commit_count += 1
        self.commits_since_checkpoint += 1
        self.outbox_writes += entries
        self._ids.update(learned)
        for event in result[1]:
            if event.HasField("run_finished"):
                self._ids.pop(event.run, None)
                self._creations.pop(event.run, None)
            elif (  # queued runs (up to AURA_MAX_QUEUED_RUNS of them) are not kept
                self._outbox and event.HasField("run_created") and not event.run_created.queued
            ):
                self._creations[event.run] = event.run_created
        return result

    def run_job(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `job` in its own write transaction; a storage fault raises `StorageFault`."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            result = job(db)
            db.execute("COMMIT")
        except Exception as error:
            self._roll_back()
            if is_storage_fault(error):
                raise StorageFault(error) from error
            raise
        self.commit_count += 1
        self.commits_since_checkpoint += 1
        return result

    def _roll_back(self) -> None:
        # SQLite may have rolled back already (it does on SQLITE_FULL).
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _new_id(self) -> int:
        if self._next_id is None:
            self._next_id = self._db.execute(
                "SELECT coalesce(max(id), 0) + 1 FROM runs"
            ).fetchone()[0]
        run_id = self._next_id
        self._next_id += 1
        return run_id

    def _write_fast(self, requests: Sequence[WriteRequest], learned: dict[str, int]) -> WriteResult:
        """`learned` receives the ids of the runs written (kept only if the batch commits).

        What Python can check is checked before the first write (a request id reused,
        seqs out of order); the statements check the rest.
        """
        outcomes: list[Outcome] = [None] * len(requests)
        new_runs, created = self._claim_creations(requests, outcomes, learned)
        advances, appended = _advances_of(requests)
        _merge_advances(new_runs, created, advances)
        if new_runs:
            self._insert_runs.execute(self._db, new_runs)
        if advances:
            self._advance(advances)
        committed = created + appended
        bodies = self._insert_event_rows(committed, advances, learned)
        return outcomes, committed, bodies

    def _claim_creations(
        self, requests: Sequence[WriteRequest], outcomes: list[Outcome], learned: dict[str, int]
    ) -> tuple[list[list[SqlValue]], list[run_pb2.RunEvent]]:
        """The rows of the runs to create and their run_created events.

        A request id already taken (in the database or earlier in the batch) settles its
        request here: the earlier run if the fingerprint matches, an error otherwise.
        """
        new_runs: list[list[SqlValue]] = []
        created: list[run_pb2.RunEvent] = []
        claimed = self._runs_by_request_id(requests)
        for index, request in enumerate(requests):
            if isinstance(request, AppendRequest):
                continue
            event = request.event
            if request.request_id:
                earlier = claimed.get(request.request_id)
                if earlier is not None:
                    name, fingerprint = earlier
                    same = fingerprint == request.fingerprint
                    outcomes[index] = (name, False) if same else reused_request_id(request, name)
                    continue
                claimed[request.request_id] = (event.run, request.fingerprint)
            run_id = learned[event.run] = self._new_id()
            new_runs.append([run_id, *new_run_row(request), None, 1])  # end_time_us, last_seq
            created.append(event)
            outcomes[index] = (event.run, True)
        return new_runs, created

    def _advance(self, advances: dict[str, RunAdvance]) -> None:
        """Moves each run's projection once; every run must be unfinished at its expected seq."""
        rows = [advance.row(run) for run, advance in advances.items()]
        if self._advance_runs.execute(self._db, rows) != len(rows):
            raise _FastPathFailed

    def _insert_event_rows(
        self,
        committed: list[run_pb2.RunEvent],
        advances: dict[str, RunAdvance],
        learned: dict[str, int],
    ) -> list[bytes]:
        """Inserts every event row; returns the serialized bodies, in `committed` order."""
        known = self._ids
        unknown = [run for run in advances if run not in learned and run not in known]
        if unknown:  # runs this writer did not create, e.g. resumed after a restart
            learned.update(self._run_ids(unknown))
        bodies = [event.SerializeToString() for event in committed]
        self.bytes_since_checkpoint += sum(map(len, bodies))
        self._insert_events.execute(
            self._db,
            [
                (learned.get(event.run) or known[event.run], event.seq, body)
                for event, body in zip(committed, bodies, strict=True)
            ],
        )
        return bodies

    def _runs_by_request_id(self, requests: Sequence[WriteRequest]) -> dict[str, tuple[str, str]]:
        request_ids = [
            request.request_id
            for request in requests
            if isinstance(request, CreateRequest) and request.request_id
        ]
        if not request_ids:
            return {}
        found = self._fetch_json(
            "SELECT json_group_array(json_array(request_id, name, fingerprint)) FROM runs "
            "WHERE request_id IN (SELECT value FROM json_each(?))",
            request_ids,
        )
        return {request_id: (name, fingerprint) for request_id, name, fingerprint in found}

    def _run_ids(self, names: list[str]) -> dict[str, int]:
        if not names:
            return {}
        ids: dict[str, int] = self._fetch_json(
            "SELECT json_group_object(name, id) FROM runs "
            "WHERE name IN (SELECT value FROM json_each(?))",
            names,
        )
        return ids

    def _fetch_json(self, sql: str, values: list[str]) -> Any:
        """Runs an aggregate query that returns one JSON value (one step, not one per row)."""
        return json.loads(self._db.execute(sql, (json.dumps(values),)).fetchone()[0])

    def _write_isolated(self, requests: Sequence[WriteRequest]) -> WriteResult:
        outcomes: list[Outcome] = [None] * len(requests)
        created: list[run_pb2.RunEvent] = []
        appended: list[run_pb2.RunEvent] = []
        for index, request in enumerate(requests):
            if isinstance(request, CreateRequest):
                outcome = create_isolated(self._db, request)
                outcomes[index] = outcome
                if outcome == (request.event.run, True):
                    created.append(request.event)
        for index, request in enumerate(requests):
            if isinstance(request, AppendRequest):
                outcomes[index] = append_isolated(self._db, request)
                if outcomes[index] is None:
                    appended.extend(request.events)
        committed = created + appended
        return outcomes, committed, [event.SerializeToString() for event in committed]


def store_definition(db: sqlite3.Connection, definition: workflow_pb2.WorkflowDefinition) -> bool:
    """Inside a write transaction: True if newly stored, False if stored identically."""
    body = definition.SerializeToString(deterministic=True)
    row = db.execute("SELECT body FROM definitions WHERE name = ?", (definition.name,)).fetchone()
    if row is None:
        db.execute("INSERT INTO definitions (name, body) VALUES (?, ?)", (definition.name, body))
        return True
    stored = workflow_pb2.WorkflowDefinition.FromString(row[0])
    if stored.SerializeToString(deterministic=True) == body:
        return False
    raise AlreadyExists(
        f"workflow definition {definition.name} already exists with different content",
        reason="DEFINITION_EXISTS",
        resource_type=DEFINITION_RESOURCE,
        resource_name=definition.name,
    )
