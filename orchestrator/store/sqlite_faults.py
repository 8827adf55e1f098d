"""Which SQLite errors mean "the store cannot write now" rather than "this request is bad".

A batch that fails with one of these wrote nothing (its transaction is rolled back) and
would fail the same way whatever it held, so the store keeps the events of acknowledged
runs queued and retries them, rather than failing their appenders.
"""

from __future__ import annotations

import sqlite3
from typing import TypeGuard

# Primary result codes (the low byte of an extended code) of faults outside any request.
_STORAGE_FAULTS = frozenset(
    {
        sqlite3.SQLITE_FULL,  # disk full, or the file reached max_page_count
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    }
)


class StorageFault(Exception):
    """A write failed for a reason outside its requests; nothing of it was written."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


def is_storage_fault(error: BaseException) -> TypeGuard[sqlite3.Error]:
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.Error)
        and isinstance(code, int)
        and (code & 0xFF) in _STORAGE_FAULTS
    )
