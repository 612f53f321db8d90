"""The user's side of a submitted run: its mirror, in the project's own ledger and logs.

A ``Mirror`` takes the run's stream as read from the job server (the whole output each
time: Ray's job server hands out nothing less) and applies, in order, the lines that
follow the last one it applied: log bytes written at their offsets (so writing one
twice changes nothing), then the rows, in one transaction with the number of the last
line, so that a break at any instant loses nothing and repeats nothing. A gap (a line
not readable yet) waits for the next read, unless the run's job has ended.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from pyoneer.errors import ClusterError, MachineError
from pyoneer.ledger import journal
from pyoneer.ledger.store import Ledger
from pyoneer.ledger.submissions import Submission
from pyoneer.ledger.workspace import workspace_of
from pyoneer.submission.stream import Line, as_bytes


class Mirror:
    """Applies ``submission``'s stream to the ledger of the project at ``root``."""

    def __init__(self, root: Path, ledger: Ledger, submission: Submission) -> None:
        self.root = root
        self.ledger = ledger
        self.submission = submission
        self.heard = submission.heard

    def take(self, found: Iterable[Line], ended: bool = False) -> list[Line]:
        """Apply the lines after those heard, in order; the lines applied.

        A missing number stops there (its line may not be written whole yet), unless the
        run's job has ended (``ended``): then nothing more can come, and the rest counts.
        """
        fresh: list[Line] = []
        for line in sorted(found, key=lambda line: line.number):
            following = (fresh[-1].number if fresh else self.heard) + 1
            if line.number < following:
                continue
            if line.number > following and not ended:
                break
            fresh.append(line)
        if not fresh:
            return []
        numbered: list[tuple[int, list[journal.Row]]] = []
        for line in fresh:
            if line.kind == "log":
                self._write_log(line.data["path"], line.data["at"], as_bytes(line.data["data"]))
            rows = [(table, row) for table, row in line.data["rows"]] if line.kind == "rows" else []
            numbered.append((line.number, rows))
        self.heard = journal.apply(self.ledger, self.submission.id, numbered)
        return fresh

    def _write_log(self, path: str, at: int, data: bytes) -> None:
        """Write log bytes at their offset, in the project's ``.pyoneer/`` only."""
        target = (self.root / path).resolve()
        if not target.is_relative_to(workspace_of(self.root).resolve()):
            raise ClusterError(f"the run's stream names a log outside .pyoneer/: {path!r}; nothing was written")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.pwrite(descriptor, data, at)
            finally:
                os.close(descriptor)
        except OSError as exc:
            raise MachineError.from_os(exc, "write a log of the submitted run", target) from exc
