"""What a person sees of a run: plain lines and a plain summary, or the live terminal view.

Views are observers of the manager; they only print, and never decide anything. Off a
terminal (a pipe, a file, a CI log) everything here is plain text and ``rich`` is never
imported: it costs more start-up time than a one-script run takes. On a terminal the
live view and the coloured summary come from ``pyoneer.terminal``.
"""

from __future__ import annotations

import sys
import threading
import time
from itertools import groupby
from typing import TYPE_CHECKING, Protocol, TextIO

from pyoneer.cli.echo import is_terminal, plain_lines, write_stderr
from pyoneer.cli.summary import HEADERS, failures, losses, stopping_line, summary_rows, verdict
from pyoneer.pyoneers.events import (
    Event,
    Interrupted,
    JobChanged,
    Queued,
    RunStarted,
    TaskEnded,
    TaskStarted,
)
from pyoneer.status import BlueprintStatus

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pyoneer.blueprints.project import Project
    from pyoneer.cli.echo import Line
    from pyoneer.pyoneers.results import RunResult



class Display(Protocol):
    """An observer of a run that also prints its messages and its summary."""

    def notify(self, event: Event) -> None:
        """Take in one event of the run."""

    def settle(self) -> None:
        """The manager is about to wait: show what has come in."""

    def say(self, text: str) -> None:
        """Print a message (plain text)."""

    def show(self, lines: Sequence[Line], prefixed: bool) -> None:
        """Print tasks' output: ``(job, text, from_stderr)`` lines, headed ``job | `` if
        ``prefixed``, stderr's on stderr (called from the thread that follows the logs,
        ``pyoneer.cli.output``)."""

    def close(self) -> None:
        """The run has ended: stop redrawing."""

    def summary(self, result: RunResult) -> None:
        """Print the summary of the ended run."""


def open_display(project: Project, stream: TextIO | None = None) -> Display:
    """The live view on a terminal, plain lines anywhere else."""
    return open_view(project.name, [job.name for job in project.jobs], stream)


def open_view(name: str, jobs: Sequence[str], stream: TextIO | None = None) -> Display:
    """The view of a run of project ``name`` with these ``jobs`` (one told from afar, too)."""
    stream = sys.stdout if stream is None else stream
    if is_terminal(stream):
        from pyoneer.cli.terminal import LiveDisplay  # rich: only where it draws

        return LiveDisplay(name, jobs)
    return PlainDisplay(stream)


class PlainDisplay:
    """One line per change of status, for logs and pipes: plain text, written as it comes.

    A reader that goes away (``| head``) silences it; the run goes on, and its record is
    the ledger.
    """

    def __init__(self, stream: TextIO) -> None:
        self._out: TextIO | None = stream
        self._pending: list[str] = []
        self._why: Mapping[str, str] = {}
        # tasks' lines come from the thread that follows the logs; a second Ctrl-C's line
        # from a signal handler, maybe while this thread holds it
        self._lock = threading.RLock()
        self._running = 0  # attempts under way, for the words of a stop
        self._resting: set[str] = set()  # jobs whose attempt failed, to be tried again after a wait

    def notify(self, event: Event) -> None:
        """Queue a line for a job's change of status or a failed attempt."""
        if isinstance(event, RunStarted):
            self._why = event.why
        elif isinstance(event, (TaskStarted, TaskEnded)):
            self._running += 1 if isinstance(event, TaskStarted) else -1
        elif isinstance(event, Interrupted):
            # at once, not at the manager's next wait: it may be busy ending the tasks
            self.say(stopping_line(event, self._running))
            return
        if isinstance(event, TaskEnded) and event.retry_in:
            self._resting.add(event.attempt.job)
        elif isinstance(event, JobChanged) and event.job in self._resting:
            self._resting.discard(event.job)
            if event.status is BlueprintStatus.READY:
                return  # handed back to wait for its retry: the "retrying in" line said so
        line = plain_line(event, self._why)
        if line:
            stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
            with self._lock:
                self._pending.append(f"{stamp} {line}\n")

    def settle(self) -> None:
        """The manager is about to wait: let the lines out."""
        self._flush()

    def close(self) -> None:
        """Let the last lines out."""
        self._flush()

    def say(self, text: str) -> None:
        """Print ``text`` on a line of its own."""
        with self._lock:
            self._pending.append(text + "\n")
        self._flush()

    def show(self, lines: Sequence[Line], prefixed: bool) -> None:
        """Print tasks' lines as they are, or each headed ``job | ``; at once: stdout's
        here, stderr's on stderr, in their order."""
        for from_stderr, run in groupby(lines, key=lambda line: line[2]):
            text = plain_lines(list(run), prefixed)
            if from_stderr:
                self._flush()  # what came before it, first
                write_stderr(text)
            else:
                with self._lock:
                    self._pending.append(text)
                self._flush()

    def summary(self, result: RunResult) -> None:
        """A table of jobs, why each failure failed, and the verdict, in plain text."""
        with self._lock:
            self._pending += [line + "\n" for line in plain_summary(result)]
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            text, self._pending = "".join(self._pending), []
            self._write(text)

    def _write(self, text: str) -> None:
        if self._out is None or not text:
            return
        try:
            self._out.write(text)
            self._out.flush()
        except (BrokenPipeError, ValueError):
            self._out = None


def plain_line(event: Event, decided: Mapping[str, str] | None = None) -> str:
    """The line a change deserves in plain output, or ``""``; ``decided`` says why jobs run
    or are reused, in a run that --resume or a target decided."""
    if isinstance(event, JobChanged):
        running = event.status is BlueprintStatus.RUNNING
        by = f" ({event.worker})" if event.worker and running else ""
        word = "reused (succeeded in an earlier run, unchanged)" if event.reused else event.status.value
        why = f": {event.reason}" if event.reason else ""
        if decided and (event.reused or running) and decided.get(event.job):
            why = f": {decided[event.job]}"
        return f"{event.job} {word}{by}{why}"
    if isinstance(event, TaskEnded) and event.attempt.lost:
        attempt = event.attempt
        return f"{attempt.job}/{attempt.task} attempt {attempt.number} cut short: {attempt.reason}"
    if isinstance(event, TaskEnded) and not event.attempt.ok and not event.attempt.cancelled:
        attempt = event.attempt
        more = " - retrying" if attempt.number <= event.retries else ""
        if more and event.retry_in:
            more += f" in {event.retry_in:.1f} s"
        return f"{attempt.job}/{attempt.task} attempt {attempt.number} failed: {attempt.reason}{more}"
    if isinstance(event, Interrupted):
        return stopping_line(event, 0)
    if isinstance(event, Queued):
        return f"{event.job} waiting in the queue ({event.worker}): {event.reason}" if event.reason else ""
    return ""


def plain_summary(result: RunResult) -> list[str]:
    """The summary as lines of plain text: aligned columns, no colours."""
    rows, hidden = summary_rows(result)
    lines = [f"run {result.run_id}"]
    if rows:
        why = any(row.why for row in rows)
        cells = [HEADERS, *[(row.job, row.status, row.attempts, row.duration) for row in rows]]
        widths = [max(len(line[column]) for line in cells) for column in range(len(HEADERS))]
        reasons = ["why", *[row.why for row in rows]]
        for line, reason in zip(cells, reasons):
            name, status, attempts, duration = line
            text = f"{name:<{widths[0]}}  {status:<{widths[1]}}  {attempts:>{widths[2]}}  {duration:>{widths[3]}}"
            lines.append(f"{text}  {reason}".rstrip() if why else text)
    if hidden:
        lines.append(f"{hidden} more jobs, all succeeded: see pyoneer status")
    lines += [f"lost: {loss}" for loss in losses(result)]
    for failure in failures(result):
        lines.append(f"{failure.job} {failure.headline}")
        if failure.log is not None:
            if failure.tail:
                lines.append("  last lines of its output:")
                lines += ["  | " + line for line in failure.tail]
            else:
                lines.append("  (it printed nothing)")
            lines.append(f"  full log: {failure.log}")
        lines += failure.same_way()
    head, rest = verdict(result)
    lines.append(f"{head}: {rest}")
    return lines
