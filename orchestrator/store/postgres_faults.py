"""Which PostgreSQL errors mean "the store cannot write now" rather than "this request is bad".

A batch that fails with one of these wrote nothing (its transaction is rolled back, or
its connection is gone and the server rolls it back), and would fail the same way
whatever it held: the server is down or restarting, the connection was cut or
terminated, the disk is full, the server is a read-only standby after a failover. The
store then keeps the events of acknowledged runs queued and retries them.

One case is in doubt: a connection lost while COMMIT was on its way may or may not have
committed. `CommitInDoubt` marks it, so the store checks what landed before retrying.
"""

from __future__ import annotations

import asyncpg
from asyncpg.exceptions import InternalClientError

# Errors of the connection itself, not of a statement: refused, reset, timed out, closed;
# or the driver's protocol state broken by a connection the server ended under it.
_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.InterfaceError, InternalClientError)

# SQLSTATE classes of faults outside any request.
_FAULT_CLASSES = frozenset(
    {
        "08",  # connection exception
        "53",  # insufficient resources: disk full, out of memory, too many connections
        "57",  # operator intervention: admin shutdown, crash shutdown, cannot connect now
        "58",  # system error: I/O error
        "XX",  # internal error (data corrupted, ...)
    }
)
_FAULT_STATES = frozenset(
    {
        "25006",  # read_only_sql_transaction: a standby after a failover
        "40001",  # serialization_failure: retrying is the cure
        "40P01",  # deadlock_detected: likewise
        "55P03",  # lock_not_available
    }
)


class StorageFault(Exception):
    """A write failed for a reason outside its requests; nothing of it was written
    (unless `in_doubt`: then it may have committed)."""

    def __init__(self, error: BaseException, *, in_doubt: bool = False) -> None:
        super().__init__(" ".join(str(error).split()) or type(error).__name__)
        self.error = error
        self.in_doubt = in_doubt


def is_storage_fault(error: BaseException) -> bool:
    if isinstance(error, StorageFault):
        return True
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    if isinstance(error, asyncpg.PostgresError):
        state = str(getattr(error, "sqlstate", "") or "")
        return state[:2] in _FAULT_CLASSES or state in _FAULT_STATES
    return False


def is_connection_lost(error: BaseException) -> bool:
    """The connection is unusable now (so a COMMIT sent on it has an unknown outcome)."""
    if isinstance(error, _CONNECTION_ERRORS):
        return True
    state = str(getattr(error, "sqlstate", "") or "")
    return isinstance(error, asyncpg.PostgresError) and state[:2] in {"08", "57"}
