"""The reading commands' tables, long ones as aligned columns of text.

rich's ``Table`` lays a table out cell by cell (it measures, wraps and crops each one)
at about a millisecond a row here: ``pyoneer status`` of a 10,000-job run took 12 s to
print. Up to ``LONG`` rows a table is rich's, fitted to the terminal's width; a longer
one is printed as one text: the same columns and styles, two spaces apart as rich puts
them, each row on one line that is never wrapped or cropped (a terminal folds a line
wider than itself; a pager or ``grep`` gets whole rows).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Span, Text

#: a cell: its text, or its text and the style of all of it
Cell = str | tuple[str, str]

#: the longest table laid out by rich (about a tenth of a second)
LONG = 200

_GAP = "  "


def print_table(console: Console, columns: Sequence[str], rows: Sequence[Sequence[Cell]],
                right: Collection[str] = ()) -> None:
    """Print ``rows`` (a cell per column) under ``columns``; those in ``right`` flush right."""
    if len(rows) <= LONG:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column, justify="right" if column in right else "left")
        for row in rows:
            table.add_row(*(Text(cell) if isinstance(cell, str) else Text(*cell) for cell in row))
        console.print(table)
        return
    console.print(_aligned(columns, rows, right), soft_wrap=True, end="")


def _aligned(columns: Sequence[str], rows: Sequence[Sequence[Cell]], right: Collection[str]) -> Text:
    header: list[Cell] = [(column, "bold") for column in columns]
    table = [[(cell, "") if isinstance(cell, str) else cell for cell in row] for row in (header, *rows)]
    widths = [max(cell_len(row[index][0]) for row in table) for index in range(len(columns))]
    flush_right = [column in right for column in columns]
    last = len(columns) - 1
    parts: list[str] = []
    spans: list[Span] = []
    at = 0
    for row in table:
        for index, (text, style) in enumerate(row):
            pad = " " * (widths[index] - cell_len(text))
            if index:
                parts.append(_GAP)
                at += len(_GAP)
            if flush_right[index]:
                parts.append(pad)
                at += len(pad)
            parts.append(text)
            if style:
                spans.append(Span(at, at + len(text), style))
            at += len(text)
            if not flush_right[index] and index < last:  # no trailing blanks
                parts.append(pad)
                at += len(pad)
        parts.append("\n")
        at += 1
    return Text("".join(parts), spans=spans)
