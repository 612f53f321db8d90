"""The tasks' output of a submitted run, as ``pyoneer attach`` shows it: as ``pyoneer run`` does.

``attach`` learns of a run's attempts from afar (a Ray run's stream, a Slurm run's
ledger) while their logs grow on this machine (the mirror of a Ray run, the shared
filesystem of a Slurm one). ``AttachedOutput`` hands those attempts to the
``OutputFollower`` of ``pyoneer run``, which tails the logs and gives their lines to the
view: one job's lines as they are, several jobs' headed ``job | ``, folded alike, a
log the view cannot keep up with skipped ahead. Nothing here reads lines itself.

Attaching late must not replay what was printed before: an attempt that had ended
when ``attach`` began shows nothing (``pyoneer logs`` has it), and one still running
shows its last ``TAIL_LINES`` lines, then what it prints from then on. The follower
reads a log from its start, so such an attempt is given a copy of its log from that
point on (a file of ``attach``'s own, kept up to date by ``pump``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple, cast

from pyoneer.cli.output import CHUNK, OutputFollower, Shows
from pyoneer.machine.streams import StderrPieces, index_entry, index_path
from pyoneer.pyoneers.events import Event, RunStarted, TaskEnded, TaskStarted

if TYPE_CHECKING:
    from pyoneer.blueprints.project import Project

#: lines of a running attempt's output shown when ``attach`` comes in late
TAIL_LINES = 10
#: the most bytes those lines may take (a line without end is not replayed whole)
TAIL_BYTES = 16 * 1024


class _Outline(NamedTuple):
    """What the follower reads of a run's project: its jobs' number (attach has only names)."""

    jobs: tuple[str, ...]


@dataclass
class _Copy:
    """A running attempt's log from where ``attach`` came in, copied as it grows, with
    the list of its stderr's pieces (``pyoneer.machine.streams``) moved to match."""

    source: Path
    view: Path
    start: int
    file: IO[bytes]
    pieces: StderrPieces
    offset: int = 0  # of the source: what was copied
    index: IO[bytes] | None = None

    def pump(self) -> None:
        """Copy what the source gained since last time."""
        self.offset = max(self.offset, self.start)
        self.pieces.refresh()  # before the log, as a reader of both must
        try:
            with self.source.open("rb") as log:
                log.seek(self.offset)
                while data := log.read(CHUNK):
                    self._list_stderr(data)
                    self.file.write(data)
                    self.offset += len(data)
        except OSError:
            return  # not there yet (a mirror's log arrives late): the next look
        self.file.flush()

    def _list_stderr(self, data: bytes) -> None:
        """List the pieces of ``data`` (read at ``offset``) that came from stderr, at
        their places in the copy, before the copy has them: its reader reads the list first."""
        at, listed = self.offset - self.start, []
        for from_stderr, run in self.pieces.split(self.offset, data):
            if from_stderr:
                listed.append(index_entry(at, len(run)))
            at += len(run)
        if listed:
            self.index = self.index or index_path(self.view).open("ab")
            self.index.write(b"".join(listed))
            self.index.flush()

    def close(self) -> None:
        """Let go of the files."""
        self.file.close()
        self.pieces.close()
        if self.index is not None:
            self.index.close()


class AttachedOutput:
    """Feeds an attached run's attempts to an ``OutputFollower`` printing on ``view``.

    Until ``caught_up``, the attempts told are those the run had before ``attach``
    began: only those still running when it is called are followed, from their tail.
    """

    def __init__(self, view: Shows, say: Callable[[str], None]) -> None:
        self._follower = OutputFollower(view)
        self._say = say
        self._live = False
        self._before: dict[Path, TaskStarted] = {}  # attempts running as attach began
        self._copies: dict[Path, _Copy] = {}
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._made = 0  # copies made: each its own file

    def outline(self, run_id: str, jobs: Sequence[str], reused: Iterable[str] = ()) -> None:
        """The run's jobs: several that run head their lines with their names."""
        # the follower counts the project's jobs; attach knows their names alone
        project = cast("Project", _Outline(tuple(jobs)))
        self._follower.notify(RunStarted(run_id, project, frozenset(reused)))

    def notify(self, event: Event) -> None:
        """An attempt that started or ended (other events are not about output)."""
        if isinstance(event, TaskStarted):
            if self._live:
                self._follower.notify(event)
            else:
                self._before[event.attempt.log] = event
        elif isinstance(event, TaskEnded):
            if not self._live:
                self._before.pop(event.attempt.log, None)
                return
            copy = self._copies.pop(event.attempt.log, None)
            if copy is not None:
                copy.pump()
                copy.close()
                event = replace(event, attempt=replace(event.attempt, log=copy.view))
            self._follower.notify(event)  # reads its log to the end now, before its job's end is told

    def caught_up(self) -> None:
        """What the run had done before ``attach`` has been told: from now on, live."""
        if self._live:
            return
        self._live = True
        running, self._before = list(self._before.values()), {}
        if running:
            self._say(f"attached to a running run: its running tasks' output from their last {TAIL_LINES} lines "
                      "(pyoneer logs JOB has all of it)")
        for event in running:
            self._follower.notify(self._from_tail(event))

    def pump(self) -> None:
        """Bring the copies of the attempts followed from their tail up to date."""
        for copy in list(self._copies.values()):
            copy.pump()

    def close(self) -> None:
        """Show what is left of every log, then stop (before the run's summary)."""
        self.pump()
        self._follower.close()
        for copy in self._copies.values():
            copy.close()
        self._copies.clear()
        if self._folder is not None:
            with contextlib.suppress(OSError):
                self._folder.cleanup()

    def _from_tail(self, event: TaskStarted) -> TaskStarted:
        """``event``, its log now a copy of the real one from its last lines on."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="pyoneer-attach-")
        source = event.attempt.log
        self._made += 1
        view = Path(self._folder.name) / f"{self._made}.log"
        copy = _Copy(source, view, tail_start(source), view.open("wb"), StderrPieces(source))
        copy.pump()
        self._copies[source] = copy
        return replace(event, attempt=replace(event.attempt, log=view))


def tail_start(path: Path, lines: int = TAIL_LINES, most: int = TAIL_BYTES) -> int:
    """Where the last ``lines`` lines of the file at ``path`` begin (and the one not ended
    yet after them), within its last ``most`` bytes (its end, where one line alone is
    longer); 0 where it is not there."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            begin = max(0, size - most)
            log.seek(begin)
            data = log.read(most)
    except OSError:
        return 0
    if begin:
        cut = data.find(b"\n") + 1  # that line began before the window: not shown halved
        if not cut:
            return begin + len(data)
        data, begin = data[cut:], begin + cut
    kept = b"\n".join(data.split(b"\n")[-(lines + 1):])  # the last piece: a line not ended yet
    return begin + len(data) - len(kept)
