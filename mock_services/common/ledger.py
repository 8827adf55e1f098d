"""A mock's durable state: one small SQLite file, with a fence record per transaction branch.

Every change a participating mock makes goes through a `Ledger`, in one SQLite transaction
with its branch record (synchronous=FULL: what was answered survives kill -9 and power loss):

- `prepare` checks and holds a change and records the branch PREPARED (or refuses it, and
  records nothing but a NO vote); a branch already ABORTED (an Abort came first: a "null
  abort") refuses it, so a late Prepare can never hold anything;
- `commit` applies the held change once (PREPARED -> COMMITTED); repeated, it is a no-op;
- `abort` releases it (PREPARED -> ABORTED), or fences a branch it never saw; repeated, a no-op;
- `apply` is the same change outside a transaction (prepare and commit at once), idempotent
  on the caller's idempotency key.

Readers read only applied (committed) state: the services keep held changes apart from it.
Each transition is also appended to `effect_log`, so a test can count what was applied.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from aura.transaction.v1 import participant_pb2 as tx
from mock_services.common.validation import ERROR_DOMAIN

Db = sqlite3.Connection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS branches (
    transaction_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    method TEXT NOT NULL,
    request BLOB NOT NULL,
    result BLOB NOT NULL,
    coordinator TEXT NOT NULL,
    updated_ns INTEGER NOT NULL,
    PRIMARY KEY (transaction_id, branch_id)
);
CREATE TABLE IF NOT EXISTS effect_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    method TEXT NOT NULL,
    effect TEXT NOT NULL,
    time_ns INTEGER NOT NULL
);
"""
PREPARED = tx.BRANCH_STATE_PREPARED
COMMITTED = tx.BRANCH_STATE_COMMITTED
ABORTED = tx.BRANCH_STATE_ABORTED
DIRECT = "direct"  # transaction id of changes applied outside a transaction


@dataclass(frozen=True)
class BranchKey:
    transaction_id: str
    branch_id: str


@dataclass(frozen=True)
class Operation:
    """One method's change: how to hold it, apply it and release it, inside the caller's
    SQLite transaction. `prepare` returns the method's response, or a refusal."""

    request_class: type[Message]
    prepare: Callable[[Db, BranchKey, Message], Message | status_pb2.Status]
    commit: Callable[[Db, BranchKey, Message], None]
    abort: Callable[[Db, BranchKey, Message], None] = lambda db, key, request: None


@dataclass(frozen=True)
class InDoubt:
    key: BranchKey
    coordinator: str
    prepared_ns: int


class ProtocolViolation(Exception):
    """A Commit of an aborted branch, an Abort of a committed one, a Commit never prepared."""

    def __init__(self, reason: str, message: str, code: int = code_pb2.FAILED_PRECONDITION):
        super().__init__(message)
        self.reason = reason
        self.code = code


def refusal(code: int, reason: str, message: str, **metadata: str) -> status_pb2.Status:
    """A NO vote's status: the code, and ErrorInfo(reason) in domain mock.aura."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata))
    return status_pb2.Status(code=code, message=message, details=[info])


def open_db(path: Path, schema: str) -> Db:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA + schema)
    return db


class Ledger:
    """The branch records and changes of one mock service, in `path`."""

    def __init__(self, path: Path, operations: Mapping[str, Operation], schema: str = "") -> None:
        self.path = path
        self.operations = dict(operations)
        self.db = open_db(path, schema)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Db]:
        """One SQLite write transaction: committed on exit, rolled back on an error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _branch(self, key: BranchKey) -> tuple[int, str, bytes, bytes] | None:
        row = self.db.execute(
            "SELECT state, method, request, result FROM branches"
            " WHERE transaction_id = ? AND branch_id = ?",
            (key.transaction_id, key.branch_id),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def log(self, key: BranchKey, method: str, effect: str) -> None:
        """Appends to effect_log (inside the caller's transaction, if any)."""
        self.db.execute(
            "INSERT INTO effect_log (transaction_id, branch_id, method, effect, time_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (key.transaction_id, key.branch_id, method, effect, time.time_ns()),
        )

    def _set_state(self, key: BranchKey, state: int) -> None:
        self.db.execute(
            "UPDATE branches SET state = ?, updated_ns = ?"
            " WHERE transaction_id = ? AND branch_id = ?",
            (state, time.time_ns(), key.transaction_id, key.branch_id),
        )

    def prepare(
        self, key: BranchKey, method: str, request: any_pb2.Any, coordinator: str = ""
    ) -> tx.PrepareResponse:
        operation = self.operations.get(method)
        if operation is None:
            return tx.PrepareResponse(
                vote=tx.VOTE_NO,
                refusal=refusal(
                    code_pb2.UNIMPLEMENTED,
                    "UNKNOWN_METHOD",
                    f"{method or '(no method)'} cannot take part in a transaction here",
                ),
            )
        message = operation.request_class()
        if not request.Unpack(message):
            return tx.PrepareResponse(
                vote=tx.VOTE_NO,
                refusal=refusal(
                    code_pb2.INVALID_ARGUMENT,
                    "WRONG_REQUEST_TYPE",
                    f"{method} takes a {message.DESCRIPTOR.full_name}, got {request.type_url}",
                ),
            )
        with self.transaction():
            answer = self._prepare_in_transaction(key, method, operation, message, coordinator)
        return answer

    def _prepare_in_transaction(
        self, key: BranchKey, method: str, operation: Operation, message: Message, coordinator: str
    ) -> tx.PrepareResponse:
        existing = self._branch(key)
        if existing is not None:
            state, _, _, result = existing
            if state == ABORTED:
                return tx.PrepareResponse(
                    vote=tx.VOTE_NO,
                    refusal=refusal(
                        code_pb2.ABORTED,
                        "BRANCH_ALREADY_ABORTED",
                        f"branch {key.branch_id} of {key.transaction_id} was aborted before",
                    ),
                )
            answer = any_pb2.Any()
            answer.ParseFromString(result)
            return tx.PrepareResponse(vote=tx.VOTE_YES, result=answer)  # a repeated Prepare
        outcome = operation.prepare(self.db, key, message)
        if isinstance(outcome, status_pb2.Status):
            return tx.PrepareResponse(vote=tx.VOTE_NO, refusal=outcome)
        answer = any_pb2.Any()
        answer.Pack(outcome)
        self.db.execute(
            "INSERT INTO branches (transaction_id, branch_id, state, method, request, result,"
            " coordinator, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.transaction_id,
                key.branch_id,
                PREPARED,
                method,
                message.SerializeToString(),
                answer.SerializeToString(),
                coordinator,
                time.time_ns(),
            ),
        )
        self.log(key, method, "prepare")
        return tx.PrepareResponse(vote=tx.VOTE_YES, result=answer)

    def commit(self, key: BranchKey) -> None:
        with self.transaction():
            self._commit_in_transaction(key)

    def _commit_in_transaction(self, key: BranchKey) -> None:
        existing = self._branch(key)
        if existing is None:
            raise ProtocolViolation(
                "BRANCH_NOT_PREPARED",
                f"branch {key.branch_id} of {key.transaction_id} was never prepared here",
                code_pb2.NOT_FOUND,
            )
        state, method, request, _ = existing
        if state == COMMITTED:
            return
        if state == ABORTED:
            raise ProtocolViolation(
                "BRANCH_ABORTED", f"branch {key.branch_id} of {key.transaction_id} was aborted"
            )
        operation = self.operations[method]
        operation.commit(self.db, key, operation.request_class.FromString(request))
        self._set_state(key, COMMITTED)
        self.log(key, method, "commit")

    def abort(self, key: BranchKey) -> bool:
        """Releases a prepared branch; True when it was a null abort (no Prepare seen)."""
        with self.transaction():
            null_abort = self._abort_in_transaction(key)
        return null_abort

    def _abort_in_transaction(self, key: BranchKey) -> bool:
        existing = self._branch(key)
        if existing is None:
            self.db.execute(
                "INSERT INTO branches (transaction_id, branch_id, state, method, request, result,"
                " coordinator, updated_ns) VALUES (?, ?, ?, '', x'', x'', '', ?)",
                (key.transaction_id, key.branch_id, ABORTED, time.time_ns()),
            )
            self.log(key, "", "null_abort")
            return True
        state, method, request, _ = existing
        if state == ABORTED:
            return False
        if state == COMMITTED:
            raise ProtocolViolation(
                "BRANCH_COMMITTED", f"branch {key.branch_id} of {key.transaction_id} committed"
            )
        operation = self.operations[method]
        operation.abort(self.db, key, operation.request_class.FromString(request))
        self._set_state(key, ABORTED)
        self.log(key, method, "abort")
        return False

    def apply(
        self,
        method: str,
        request: Message,
        response: Message,
        idempotency_key: str | None,
    ) -> None:
        """The change outside a transaction, at once, its answer into `response`; a
        repeated key answers the first answer without applying it again. Raises
        RefusedChange when it cannot be made."""
        key = BranchKey(DIRECT, f"{method}|{idempotency_key or uuid.uuid4().hex}")
        packed = any_pb2.Any()
        packed.Pack(request)
        answer = self.prepare(key, method, packed)
        if answer.vote != tx.VOTE_YES:
            raise RefusedChange(answer.refusal)
        self.commit(key)
        answer.result.Unpack(response)

    def in_doubt(self, older_than_s: float) -> list[InDoubt]:
        """Prepared branches of real transactions not decided for `older_than_s`."""
        limit = time.time_ns() - int(older_than_s * 1e9)
        rows = self.db.execute(
            "SELECT transaction_id, branch_id, coordinator, updated_ns FROM branches"
            " WHERE state = ? AND transaction_id <> ? AND updated_ns <= ?",
            (PREPARED, DIRECT, limit),
        ).fetchall()
        return [InDoubt(BranchKey(row[0], row[1]), row[2], row[3]) for row in rows]

    def branch_states(self) -> dict[tuple[str, str], int]:
        """(transaction id, branch id) -> BranchState, for every branch (tests, debugging)."""
        rows = self.db.execute("SELECT transaction_id, branch_id, state FROM branches").fetchall()
        return {(row[0], row[1]): row[2] for row in rows}


class RefusedChange(Exception):
    """A direct change the service refused (its NO vote's status)."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status
