"""What a person sees of a run: plain lines and a plain summary, or the live terminal view.

Views are observers of the manager; they only print, and never decide anything. Off a
terminal (a pipe, a file, a CI log) everything here is plain text and ``rich`` is never
imported: it costs more start-up time than a one-script run takes. On a terminal the
live view and the coloured summary come from ``pyoneer.terminal``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, TextIO

from pyoneer.events import Event, Interrupted, JobChanged, TaskEnded
from pyoneer.status import BlueprintStatus

if TYPE_CHECKING:
    from pyoneer.blueprints import Project
    from pyoneer.results import JobResult, RunResult

#: lines of a failed task's output shown under the summary
TAIL_LINES = 15
#: up to this many jobs, the summary lists every one
SUMMARY_ROWS = 40


class Display(Protocol):
    """An observer of a run that also prints its messages and its summary."""

    def notify(self, event: Event) -> None:
        """Take in one event of the run."""

    def settle(self) -> None:
        """The manager is about to wait: show what has come in."""

    def say(self, text: str) -> None:
        """Print a message (plain text)."""

    def close(self) -> None:
        """The run has ended: stop redrawing."""

    def summary(self, result: RunResult) -> None:
        """Print the summary of the ended run."""


def open_display(project: Project, stream: TextIO | None = None) -> Display:
    """The live view on a terminal, plain lines anywhere else."""
    stream = sys.stdout if stream is None else stream
    if _is_terminal(stream):
        from pyoneer.terminal import LiveDisplay  # rich: only where it draws

        return LiveDisplay(project)
    return PlainDisplay(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class PlainDisplay:
    """One line per change of status, for logs and pipes: plain text, written as it comes.

    A reader that goes away (``| head``) silences it; the run goes on, and its record is
    the ledger.
    """

    def __init__(self, stream: TextIO) -> None:
        self._out: TextIO | None = stream
        self._pending: list[str] = []

    def notify(self, event: Event) -> None:
        """Queue a line for a job's change of status or a failed attempt."""
        line = plain_line(event)
        if line:
            stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
            self._pending.append(f"{stamp} {line}\n")

    def settle(self) -> None:
        """The manager is about to wait: let the lines out."""
        self._flush()

    def close(self) -> None:
        """Let the last lines out."""
        self._flush()

    def say(self, text: str) -> None:
        """Print ``text`` on a line of its own."""
        self._pending.append(text + "\n")
        self._flush()

    def summary(self, result: RunResult) -> None:
        """A table of jobs, why each failure failed, and the verdict, in plain text."""
        self._pending += [line + "\n" for line in plain_summary(result)]
        self._flush()

    def _flush(self) -> None:
        text, self._pending = "".join(self._pending), []
        if self._out is None or not text:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self._out = None


def plain_line(event: Event) -> str:
    """The line a change deserves in plain output, or ``""``."""
    if isinstance(event, JobChanged):
        by = f" ({event.worker})" if event.worker and event.status is BlueprintStatus.RUNNING else ""
        word = "reused (succeeded in an earlier run, unchanged)" if event.reused else event.status.value
        why = f": {event.reason}" if event.reason else ""
        return f"{event.job} {word}{by}{why}"
    if isinstance(event, TaskEnded) and not event.attempt.ok and not event.attempt.cancelled:
        attempt = event.attempt
        more = " - retrying" if attempt.number <= event.retries else ""
        return f"{attempt.job}/{attempt.task} attempt {attempt.number} failed: {attempt.reason}{more}"
    if isinstance(event, Interrupted):
        return f"{event.reason}: stopping"
    return ""


# The summary: what it says, then how plain text says it -------------------------------


class Row(NamedTuple):
    """One job's line in the summary table."""

    job: str
    status: str
    attempts: str
    duration: str
    reused: bool = False


class Failure(NamedTuple):
    """Why a job failed: a headline, and the tail of its failed task's log."""

    job: str
    headline: str
    tail: tuple[str, ...] = ()
    log: str | None = None


HEADERS = ("job", "status", "attempts", "duration")


def summary_rows(result: RunResult) -> tuple[list[Row], int]:
    """The jobs the table lists, and how many more (all succeeded) it leaves out."""
    shown = _summary_jobs(result)
    rows = [
        Row(job.name, "reused" if job.reused else job.status.value, str(job.tries), seconds(job.duration), job.reused)
        for job in shown
    ]
    return rows, len(result.jobs) - len(shown)


def _summary_jobs(result: RunResult) -> list[JobResult]:
    if len(result.jobs) <= SUMMARY_ROWS:
        return list(result.jobs)
    unhappy = [job for job in result.jobs if job.status is not BlueprintStatus.SUCCEEDED]
    return unhappy[:SUMMARY_ROWS]


def failures(result: RunResult) -> list[Failure]:
    """Each failed job: its failed attempt and the last lines of that attempt's log."""
    found = []
    for job in result.jobs:
        attempt = job.failure
        if attempt is not None:
            tries = f" (after {attempt.number} attempts)" if attempt.number > 1 else ""
            found.append(
                Failure(
                    job.name,
                    f"failed: task {attempt.task} {attempt.reason}{tries}",
                    tuple(last_lines(attempt.log, TAIL_LINES)),
                    shown_path(attempt.log),
                )
            )
        elif job.status is BlueprintStatus.FAILED and job.reason:
            found.append(Failure(job.name, f"failed: {job.reason}"))
    return found


def verdict(result: RunResult) -> tuple[str, str]:
    """The last line: ``done``, ``failed`` or ``interrupted``, and the counts and time."""
    counts: dict[str, int] = {}
    for job in result.jobs:
        word = "reused" if job.reused else job.status.value
        counts[word] = counts.get(word, 0) + 1
    parts = ", ".join(f"{count} {word}" for word, count in counts.items())
    head = "interrupted" if result.interrupted else "done" if result.ok else "failed"
    return head, f"{parts} in {seconds(result.ended - result.started)}"


def plain_summary(result: RunResult) -> list[str]:
    """The summary as lines of plain text: aligned columns, no colours."""
    rows, hidden = summary_rows(result)
    lines = [f"run {result.run_id}"]
    if rows:
        cells = [HEADERS, *[(row.job, row.status, row.attempts, row.duration) for row in rows]]
        widths = [max(len(line[column]) for line in cells) for column in range(len(HEADERS))]
        for line in cells:
            name, status, attempts, duration = line
            lines.append(
                f"{name:<{widths[0]}}  {status:<{widths[1]}}  {attempts:>{widths[2]}}  {duration:>{widths[3]}}"
            )
    if hidden:
        lines.append(f"{hidden} more jobs, all succeeded: see pyoneer status")
    for failure in failures(result):
        lines.append(f"{failure.job} {failure.headline}")
        if failure.log is not None:
            if failure.tail:
                lines.append("  last lines of its output:")
                lines += ["  | " + line for line in failure.tail]
            else:
                lines.append("  (it printed nothing)")
            lines.append(f"  full log: {failure.log}")
    head, rest = verdict(result)
    lines.append(f"{head}: {rest}")
    return lines


def seconds(value: float | None) -> str:
    """A duration for people: ``4.2 s``, ``3m07s``, ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return f"{minutes}m{rest:02d}s"


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when that is shorter."""
    relative = os.path.relpath(path)
    return relative if len(relative) < len(str(path)) else str(path)


def last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a log file (reads only its end)."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            data = log.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-count:]
