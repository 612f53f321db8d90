"""Pieces of a task attempt's log, by byte offset: its tail first, then what it gains.

A log is never read whole: the tail is found by seeking from the end, and a follower
asks for what lies past the offset it has. A piece ends at a line's end while the task
runs (a line being written is sent once it is whole), so no line is shown twice or cut;
once the attempt has ended, the rest is sent as it is, last line included.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyoneer.errors import LedgerError
from pyoneer.ledger.store import Ledger

#: how much of a log's end is shown first
TAIL_BYTES = 64 * 1024
#: the most one piece carries
PIECE_BYTES = 256 * 1024


def attempt_row(ledger: Ledger, run_id: str, job: str, task: str, attempt: int) -> dict[str, Any]:
    """The ledger's row of one attempt of ``job/task`` in run ``run_id``."""
    name = f"{job}/{task}"
    for row in ledger.assignments(run_id):
        if row["kind"] == "task" and row["name"] == name and row["attempt"] == attempt:
            return row
    raise LedgerError(f"run {run_id} has no attempt {attempt} of {name}")


def tail(path: Path, limit: int = TAIL_BYTES) -> tuple[int, bytes]:
    """The last whole lines of ``path`` within ``limit`` bytes: (their offset, the bytes)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(0, size - limit)
            log.seek(start)
            data = log.read(size - start)
    except FileNotFoundError:
        return 0, b""
    if start > 0:  # begin at a line's start: a cut line would look like another one
        cut = data.find(b"\n")
        if cut == -1:
            return size, b""
        start, data = start + cut + 1, data[cut + 1 :]
    return start, data


def piece(path: Path, offset: int, ended: bool, limit: int = PIECE_BYTES) -> tuple[bytes, int]:
    """What ``path`` holds from ``offset`` on: (the bytes, the offset after them).

    While the attempt runs, up to the last whole line (or ``limit`` bytes of one very long
    line); once it has ended (``ended``), everything that is left.
    """
    try:
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read(limit)
    except FileNotFoundError:
        return b"", offset
    if not ended and len(data) < limit:
        whole = data.rfind(b"\n") + 1
        data = data[:whole]
    return data, offset + len(data)
