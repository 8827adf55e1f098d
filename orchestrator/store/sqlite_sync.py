"""Forcing a SQLite store's committed writes to disk, whatever its durability setting.

With durability "normal" (WAL, synchronous=NORMAL) a commit reaches the WAL file but not
the disk: it survives a killed process, not a power loss. A transaction's decision must
survive both, so `append_durable` follows its commit with one fsync of the WAL file (a
checkpoint meanwhile is harmless: SQLite syncs the WAL before and the database after it).
With durability "fsync" the commit itself was synced.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_wal(database: Path) -> None:
    """fsync of `<database>-wal` (nothing to do when there is no WAL file)."""
    try:
        descriptor = os.open(f"{database}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
