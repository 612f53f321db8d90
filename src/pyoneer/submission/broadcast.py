"""The cluster's side of a submitted run: everything the run does, told as its stream.

``Broadcast`` is an observer of the manager, told after the ledger's recorder: at the
end of each step of the manager it sends the log bytes its tasks wrote (each after the
list of its stderr's pieces, ``pyoneer.machine.streams``), the ledger rows
that step committed, and the step's events, in that order; between steps (a long task
prints, nothing else happens) a thread of its own sends log bytes twice a second, and
as the run ends, the rest of every log. The
lines go to ``out`` (the Ray job's output) with one number after another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from pyoneer.ledger.journal import Journal
from pyoneer.ledger.store import Ledger
from pyoneer.machine.streams import index_path
from pyoneer.pyoneers.events import Event, RunStarted, TaskEnded, TaskStarted
from pyoneer.pyoneers.results import RunResult
from pyoneer.pyoneers.wire import event_to_wire, result_to_wire
from pyoneer.submission.stream import as_text, line

#: seconds between two looks at the running tasks' logs, between the manager's steps
PUMP = 0.5
#: seconds an ended attempt's log is still looked at
LINGER = 5.0
#: the most log bytes one line carries
PIECE = 256 * 1024


class Broadcast:
    """Tells a run as numbered lines on ``out``; ``root`` is the project root on the cluster."""

    def __init__(self, out: TextIO, root: Path) -> None:
        self._out = out
        self._root = root
        self._number = 0
        self._lock = threading.Lock()  # the manager's thread and the pump both write
        self._journal: Journal | None = None
        self._events: list[dict[str, Any]] = []
        #: every log of the run (path under the root -> bytes sent), and those looked at:
        #: the running attempts', and an ended one's for a while (its last bytes may reach
        #: the manager's machine after its end is told), until when
        self._sent: dict[str, int] = {}
        self._logs: dict[str, None] = {}  # the logs alone (``_sent`` has their lists too), in order
        self._watched: dict[str, float] = {}
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._pumping, name="pyoneer-broadcast", daemon=True)

    def follow(self, ledger: Ledger) -> Broadcast:
        """Watch ``ledger``, the run's own (the runner hands it over as the run opens)."""
        self._journal = Journal(ledger)
        self._pump.start()
        return self

    # Observer ----------------------------------------------------------------------

    def notify(self, event: Event) -> None:
        """Keep the event for the end of the step; note the logs that begin and end."""
        if isinstance(event, RunStarted):
            project = event.project
            self.send("run", run_id=event.run_id, project=project.name, jobs=[job.name for job in project.jobs])
        elif isinstance(event, TaskStarted):
            with self._lock:
                path = self._relative(event.attempt.log)
                self._sent[path] = 0
                self._sent.pop(index_path(Path(path)).as_posix(), None)  # a fresh log, a fresh list
                self._logs[path] = None
                self._watched[path] = float("inf")
        elif isinstance(event, TaskEnded):
            with self._lock:
                self._watched[self._relative(event.attempt.log)] = time.monotonic() + LINGER
        self._events.append(event_to_wire(event, self._root))

    def settle(self) -> None:
        """The step is over (its rows committed): send its logs, rows and events."""
        rows = self._journal.changes() if self._journal is not None else []
        events, self._events = self._events, []
        with self._lock:
            self._send_logs(self._watched)
            if rows:
                self._write("rows", rows=[[table, row] for table, row in rows])
            for event in events:
                self._write("event", event=event)
            self._out.flush()

    # The run's own words -----------------------------------------------------------

    def say(self, text: str) -> None:
        """A message for whoever follows the run (what the engine announces)."""
        self.send("say", text=text)

    def end(self, result: RunResult) -> None:
        """The run has ended: the rest of every log, its result and exit code (the last line)."""
        self.close()
        with self._lock:
            self._send_logs(self._logs)
        self.send("end", result=result_to_wire(result), code=result.exit_code)

    def fail(self, message: str, code: int) -> None:
        """The run could not start or go on: why, and its exit code (the last line)."""
        self.close()
        self.send("error", text=message, code=code)

    def send(self, kind: str, **data: Any) -> None:
        """One line of the stream, now."""
        with self._lock:
            self._write(kind, **data)
            self._out.flush()

    def close(self) -> None:
        """Stop looking at logs between steps (what is left was sent by the last step)."""
        self._stop.set()
        if self._pump.is_alive():
            self._pump.join()

    # Logs --------------------------------------------------------------------------

    def _pumping(self) -> None:
        while not self._stop.wait(PUMP):
            with self._lock:
                now = time.monotonic()
                for path in [path for path, until in self._watched.items() if until < now]:
                    del self._watched[path]
                if self._send_logs(self._watched):
                    self._out.flush()

    def _send_logs(self, paths: Iterable[str]) -> bool:
        """Send what these logs gained since last time, each after what its list of
        stderr's pieces gained (with the lock held)."""
        sent = False
        for path in list(paths):
            try:
                size = (self._root / path).stat().st_size
            except FileNotFoundError:
                continue  # not written yet
            # the list read after the log's size covers every byte of it sent now (its relay
            # lists a piece before writing it), and goes first: a reader there reads it first
            sent = self._send_file(index_path(Path(path)).as_posix(), None) | sent
            sent = self._send_file(path, size) | sent
        return sent

    def _send_file(self, path: str, until: int | None) -> bool:
        """Send the bytes of the file at ``path`` past those sent, up to ``until`` (None: its end)."""
        offset = start = self._sent.get(path, 0)
        try:
            with (self._root / path).open("rb") as file:
                file.seek(offset)
                while data := file.read(PIECE if until is None else min(PIECE, until - offset)):
                    self._write("log", path=path, at=offset, data=as_text(data))
                    offset += len(data)
        except FileNotFoundError:
            return False  # none yet (a task that writes no stderr has no list)
        self._sent[path] = offset
        return offset > start

    def _write(self, kind: str, **data: Any) -> None:
        self._number += 1
        self._out.write(line(self._number, kind, **data))

    def _relative(self, path: Path) -> str:
        return path.relative_to(self._root).as_posix()
