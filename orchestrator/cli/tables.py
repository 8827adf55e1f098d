"""Tables that never cut a cell: an id printed here can always be pasted into the next command."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

# A rich table adds a border and one space of padding either side per column.
_BOX_PER_COLUMN = 3


def print_table(
    console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]], title: str = ""
) -> None:
    """A boxed table on a terminal wide enough for every cell; otherwise (a pipe, a file,
    a narrow terminal) plain columns two spaces apart, each as wide as its widest cell,
    one row per line, for grep and awk; a line wider than the terminal wraps, uncut."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    natural = sum(widths) + _BOX_PER_COLUMN * len(widths) + 1
    if console.is_terminal and natural <= console.width:
        table = Table(*headers, title=title or None, title_justify="left")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    if title:
        console.print(title, highlight=False, markup=False, soft_wrap=True)
    for cells in (headers, *rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        console.print(line.rstrip(), highlight=False, markup=False, soft_wrap=True)
