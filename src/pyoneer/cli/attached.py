"""The tasks' output of a submitted run, as ``pyoneer attach`` shows it: as ``pyoneer run`` does.

``attach`` learns of a run's attempts from afar (a Ray run's stream, a Slurm run's
ledger) while their logs grow on this machine (the mirror of a Ray run, the shared
filesystem of a Slurm one). ``AttachedOutput`` hands those attempts to the
``OutputFollower`` of ``pyoneer run``, which tails the logs and gives their lines to the
view: one job's lines as they are, several jobs' headed ``job | ``, folded alike, a
log the view cannot keep up with skipped ahead. Nothing here reads lines itself.

Attaching late must not replay what was printed before: an attempt that had ended
when ``attach`` began shows nothing (``pyoneer logs`` has it), and one still running
shows its last ``TAIL_LINES`` lines, then what it prints from then on: the follower
follows its log from where those lines begin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from pyoneer.cli.output import OutputFollower, Shows
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

    def outline(self, run_id: str, jobs: Sequence[str], reused: Iterable[str] = ()) -> None:
        """The run's jobs: several that run head their lines with their names."""
        # the follower counts the project's jobs; attach knows their names alone
        project = cast("Project", _Outline(tuple(jobs)))
        self._follower.notify(RunStarted(run_id, project, frozenset(reused)))

    def notify(self, event: Event) -> None:
        """An attempt that started or ended (other events are not about output)."""
        if self._live:
            if isinstance(event, (TaskStarted, TaskEnded)):
                self._follower.notify(event)  # at its end: its log read to the end, before its job's end is told
        elif isinstance(event, TaskStarted):
            self._before[event.attempt.log] = event
        elif isinstance(event, TaskEnded):
            self._before.pop(event.attempt.log, None)

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
            log = event.attempt.log
            self._follower.follow(event.attempt.job, log, tail_start(log))

    def close(self) -> None:
        """Show what is left of every log, then stop (before the run's summary)."""
        self._follower.close()


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
