"""Tasks' output on the user's screen while they run, as ``python script.py`` shows it.

A worker writes each attempt's stdout and stderr to its log file (``TaskStarted`` names
it), on every engine, and lists beside it which pieces came from stderr
(``pyoneer.machine.streams``). The CLI follows those files from a thread of its own and
hands their lines to the view, each marked with its stream, so that the view prints a
task's stderr on its own stderr: the tasks never write to the terminal, so they never
wait on it. A terminal slower than a task (30 MB printed in a second) makes the view fall
behind, never the task; once the unread part of a log exceeds ``LAG_LIMIT`` the view
skips to its end and says how much it left out (the log keeps every byte).

A run of one job shows the lines as they are; a run of several prefixes each with its
job's name, and folds a line that many members print alike (``pyoneer.cli.folding``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from pyoneer.cli.echo import Line
from pyoneer.cli.folding import Folder
from pyoneer.machine.streams import StderrPieces
from pyoneer.pyoneers.events import Event, RunStarted, TaskEnded, TaskStarted

if TYPE_CHECKING:
    from collections.abc import Sequence

#: how far behind a log the view may fall (unread bytes) before it skips ahead
LAG_LIMIT = 1024 * 1024

#: the most read from one log at a time: others' lines are not held up behind a big one
CHUNK = 512 * 1024

#: a line longer than this is shown in pieces (a progress bar that never ends its line)
LONGEST_LINE = 64 * 1024

#: seconds between looks at the logs: lines show within this, and an idle run costs nothing
INTERVAL = 0.05


class Shows(Protocol):
    """A view that prints tasks' lines (``pyoneer.cli.display.Display``)."""

    def show(self, lines: Sequence[Line], prefixed: bool) -> None:
        """Print these lines (stderr's on stderr), each headed by its job's name if ``prefixed``."""


@dataclass
class _Tail:
    """One attempt's log, as far as it has been shown."""

    job: str
    path: Path
    pieces: StderrPieces
    start: int = 0  # where in the log to begin (a late attach shows only its last lines)
    file: IO[bytes] | None = None
    #: the unfinished last line of each stream (False: stdout, True: stderr)
    partial: dict[bool, bytes] = field(default_factory=lambda: {False: b"", True: b""})
    ended: bool = False


class OutputFollower:
    """An observer of a run that streams its running attempts' logs to ``view``."""

    def __init__(self, view: Shows, interval: float = INTERVAL) -> None:
        self._view = view
        self._interval = interval
        self._tails: list[_Tail] = []
        self._lock = threading.Lock()
        # one look at a time: the thread's, or the manager's when an attempt ends
        self._looking = threading.Lock()
        self._prefixed = False
        self._folder = Folder()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pyoneer-output", daemon=True)
        self._thread.start()

    def notify(self, event: Event) -> None:
        """Follow an attempt's log from its start; read it to its end once it has ended."""
        if isinstance(event, RunStarted):
            # several jobs run: lines need their job's name (reused jobs print nothing)
            self._prefixed = len(event.project.jobs) - len(event.reused) > 1
        elif isinstance(event, TaskStarted):
            self.follow(event.attempt.job, event.attempt.log)
        elif isinstance(event, TaskEnded):
            with self._lock:
                for tail in self._tails:
                    if tail.path == event.attempt.log:
                        tail.ended = True
            # its last lines now, before the job's end is told: the order the script had
            self._look()

    def follow(self, job: str, log: Path, start: int = 0) -> None:
        """Follow ``job``'s attempt's ``log`` from byte ``start`` on, until it is told ended."""
        with self._lock:
            self._tails.append(_Tail(job, log, StderrPieces(log), start))

    def settle(self) -> None:
        """Nothing to do: the thread looks at the logs on its own clock."""

    def close(self) -> None:
        """Show what is left of every log, then stop: the summary comes after the lines."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            for tail in self._tails:
                tail.ended = True
        self._look(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._look()

    def _look(self, final: bool = False) -> None:
        with self._looking:
            self._look_once(final)

    def _look_once(self, final: bool) -> None:
        lines: list[Line] = []
        with self._lock:
            tails = list(self._tails)
        for tail in tails:
            lines += _read(tail)
            if tail.ended and tail.file is None:
                with self._lock:
                    self._tails.remove(tail)
        now = time.monotonic()
        if self._prefixed:
            lines = self._folder.take(lines, now) + self._folder.due(now, final)
        if lines:
            self._view.show(lines, self._prefixed)


def _read(tail: _Tail) -> list[Line]:
    """The whole lines added to ``tail``'s log since the last look (and, once its attempt
    has ended, the last line of each stream even without its newline)."""
    if tail.file is None:
        try:
            tail.file = tail.path.open("rb")
            tail.file.seek(tail.start)
        except OSError:  # not written yet (a cluster's log arrives late), or never
            return []
    lines: list[Line] = []
    while True:
        backlog = _size(tail.file) - tail.file.tell()
        if backlog > LAG_LIMIT:
            # the view cannot keep up: skip to near the end, at a line's start
            tail.file.seek(-LAG_LIMIT // 4, 2)
            tail.file.readline()
            skipped = backlog - (_size(tail.file) - tail.file.tell())
            tail.partial = {False: b"", True: b""}
            lines.append((tail.job, f"[... {_size_text(skipped)} of output not shown here, to keep up: "
                                    f"pyoneer logs '{tail.job}' has it all]", False))
        tail.pieces.refresh()  # before the log: each byte read next is listed if it is stderr's
        offset = tail.file.tell()
        data = tail.file.read(CHUNK)
        if not data:
            break
        for from_stderr, run in tail.pieces.split(offset, data):
            lines += _lines(tail, from_stderr, run)
        if len(data) < CHUNK:
            break
    if tail.ended:
        # an ended attempt's log is complete once it ended; a look is never left half-way
        lines += [(tail.job, _text(rest), from_stderr) for from_stderr, rest in tail.partial.items() if rest]
        tail.file.close()
        tail.file = None
        tail.pieces.close()
    return lines


def _lines(tail: _Tail, from_stderr: bool, data: bytes) -> list[Line]:
    """The lines ``data`` ends, after what its stream left unfinished."""
    pieces = (tail.partial[from_stderr] + data).split(b"\n")
    rest = pieces.pop()
    if len(rest) > LONGEST_LINE:
        pieces.append(rest)
        rest = b""
    tail.partial[from_stderr] = rest
    return [(tail.job, _text(piece), from_stderr) for piece in pieces]


def _text(line: bytes) -> str:
    """A line as a terminal would leave it: what follows its last carriage return
    (a progress bar's last state), decoded leniently."""
    text = line.decode("utf-8", "replace").rstrip("\r")
    return text.rpartition("\r")[2] if "\r" in text else text


def _size(file: IO[bytes]) -> int:
    return os.fstat(file.fileno()).st_size


def _size_text(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} kB"
