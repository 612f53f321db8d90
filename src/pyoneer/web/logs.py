"""Pieces of a task attempt's log, by byte offset: its tail first, then what it gains.

A log is never read whole: the tail is found by seeking from the end, and a follower
asks for what lies past the offset it has. A piece ends at a line's end while the task
runs (a line being written is sent once it is whole), so no line is shown twice or cut;
once the attempt has ended, the rest is sent as it is, last line included.

Only what lies inside the project's ``.pyoneer/`` is ever read (``inside``): a log
replaced by a symlink, a log folder that is one, or a ledger row whose path leads out,
is not this project's log, and is neither served nor copied into a report. Offsets come
from the address or a header, so they are taken only as plain decimal digits within
range (``offset_of``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyoneer.errors import LedgerError
from pyoneer.ledger.store import Ledger, ledger_path

#: how much of a log's end is shown first
TAIL_BYTES = 64 * 1024
#: the most one piece carries
PIECE_BYTES = 256 * 1024
#: the largest offset taken (far beyond any log, and within what a file offset holds)
MAX_OFFSET = 2**62


def attempt_row(ledger: Ledger, run_id: str, job: str, task: str, attempt: int) -> dict[str, Any]:
    """The ledger's row of one attempt of ``job/task`` in run ``run_id``."""
    name = f"{job}/{task}"
    for row in ledger.assignments(run_id):
        if row["kind"] == "task" and row["name"] == name and row["attempt"] == attempt:
            return row
    raise LedgerError(f"run {run_id} has no attempt {attempt} of {name}")


def inside(root: Path, log: str | None, what: str) -> Path | None:
    """The file of ``log`` (a path the ledger gives, relative to ``root``) with every
    symlink followed: ``None`` if there is no log; ``LedgerError`` if it lies outside the
    project's ``.pyoneer/``. ``what`` names the log in that error."""
    if not log:
        return None
    workspace = ledger_path(root).parent.resolve()
    path = (root / log).resolve()
    if path == workspace or not path.is_relative_to(workspace):
        raise LedgerError(f"the log of {what} lies outside the project's .pyoneer/: it is not shown")
    return path


def offset_of(text: str) -> int | None:
    """``text`` as a byte offset: plain decimal digits (ASCII only) within range, else ``None``."""
    if not 0 < len(text) <= 19 or not all("0" <= char <= "9" for char in text):
        return None
    value = int(text)
    return value if value <= MAX_OFFSET else None


def size_of(path: Path | None) -> int:
    """The size of the log at ``path`` (0 while there is none)."""
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def tail(path: Path | None, limit: int = TAIL_BYTES) -> tuple[int, bytes]:
    """The last whole lines of ``path`` within ``limit`` bytes: (their offset, the bytes)."""
    if path is None:
        return 0, b""
    try:
        with path.open("rb") as log:
            size = log.seek(0, os.SEEK_END)
            start = max(0, size - limit)
            log.seek(start)
            data = log.read(size - start)
    except OSError:  # none yet, or not a file to read
        return 0, b""
    if start > 0:  # begin at a line's start: a cut line would look like another one
        cut = data.find(b"\n")
        if cut == -1:
            return size, b""
        start, data = start + cut + 1, data[cut + 1 :]
    return start, data


def piece(path: Path | None, offset: int, ended: bool, limit: int = PIECE_BYTES) -> tuple[bytes, int]:
    """What ``path`` holds from ``offset`` on: (the bytes, the offset after them).

    While the attempt runs, up to the last whole line (or ``limit`` bytes of one very long
    line); once it has ended (``ended``), everything that is left.
    """
    try:
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read(limit)
    except OSError:  # none yet, or not a file to read
        return b"", offset
    if not ended and len(data) < limit:
        whole = data.rfind(b"\n") + 1
        data = data[:whole]
    return data, offset + len(data)
