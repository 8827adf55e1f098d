"""Statements over many rows in few sqlite3 calls.

`executemany` steps the statement once per row, and Python's sqlite3 releases and
re-takes the GIL around every step. While the event loop thread is busy, each re-take
can wait out the interpreter's switch interval (5 ms), so a writer thread doing
thousands of small steps crawls (we measured 8x slower; see `sqlite_reads` for the
same effect on fetching rows). A `MultiRowStatement` sends up to `max_rows` rows as one
`VALUES` list in one step instead. To keep the set of prepared statements small, the
row count is padded up to a size tier with all-NULL rows, which the statement's
`WHERE column1 IS NOT NULL` discards.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence

SqlValue = int | str | bytes | None
Row = Sequence[SqlValue]

_TIERS = (1, 8, 64, 512, 2048, 8192)


class MultiRowStatement:
    """`template` has one `{values}` slot for the VALUES list (columns column1, column2...)."""

    def __init__(self, template: str, width: int, *, variable_limit: int = 32766) -> None:
        self._width = width
        tiers = [tier for tier in _TIERS if tier * width <= variable_limit] or [1]
        self._sql = {
            tier: template.format(values=", ".join([f"({', '.join('?' * width)})"] * tier))
            for tier in tiers
        }
        self._max_rows = tiers[-1]

    def execute(self, db: sqlite3.Connection, rows: Sequence[Row]) -> int:
        """Runs the statement over `rows`; returns the total rows changed."""
        changed = 0
        for _, sql, params in self._chunks(rows):
            changed += db.execute(sql, params).rowcount
        return changed

    def _chunks(self, rows: Sequence[Row]) -> Iterator[tuple[Sequence[Row], str, list[SqlValue]]]:
        for start in range(0, len(rows), self._max_rows):
            chunk = rows[start : start + self._max_rows]
            tier = next(tier for tier in self._sql if tier >= len(chunk))
            params: list[SqlValue] = list(itertools.chain.from_iterable(chunk))
            params.extend([None] * (self._width * (tier - len(chunk))))
            yield chunk, self._sql[tier], params
