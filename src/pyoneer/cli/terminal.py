"""The run on a terminal: a live table of jobs with a progress bar, and a coloured summary.

Only imported when standard output is a terminal (see ``pyoneer.display``): ``rich``
draws it, and importing ``rich`` costs more than a small run takes.
"""

from __future__ import annotations

import math
import sys
import time
from itertools import groupby
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from pyoneer.cli.echo import is_terminal, plain_lines, write_stderr
from pyoneer.cli.summary import (
    HEADERS,
    SUMMARY_ROWS,
    failures,
    group_status,
    losses,
    seconds,
    stopping_line,
    summary_rows,
    verdict,
)
from pyoneer.pyoneers.events import Event, Interrupted, JobChanged, Queued, RunStarted, TaskEnded, TaskStarted
from pyoneer.status import BlueprintStatus

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pyoneer.cli.echo import Line
    from pyoneer.pyoneers.results import RunResult

_STYLE = {
    BlueprintStatus.NOT_READY: "dim",
    BlueprintStatus.READY: "cyan",
    BlueprintStatus.RUNNING: "bold blue",
    BlueprintStatus.SUCCEEDED: "green",
    BlueprintStatus.FAILED: "bold red",
    BlueprintStatus.SKIPPED: "yellow",
    BlueprintStatus.CANCELLED: "magenta",
}
_VERDICT_STYLE = {"done": "green", "failed": "bold red", "interrupted": "magenta"}

#: each job's name in a colour of its own, in the order the project lists them (as docker compose does)
_NAME_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta",
                 "bright_green", "bright_yellow", "bright_blue")

#: the most lines of tasks' output drawn at once (a terminal is slower than a task's log)
SCREENFUL = 400

_WORTH_A_ROW = (BlueprintStatus.RUNNING, BlueprintStatus.FAILED, BlueprintStatus.SKIPPED, BlueprintStatus.CANCELLED)


class QuietConsole(Console):
    """A console that falls silent when its reader leaves (``| head``), instead of exiting 1."""

    def on_broken_pipe(self) -> None:
        """Print no more; the run's outcome stays the exit code (and is in the ledger)."""
        self.quiet = True


def console() -> Console:
    """The terminal's width on a terminal; wide elsewhere, so pipes and files get whole tables."""
    made = QuietConsole(highlight=False)
    return made if made.is_terminal else QuietConsole(highlight=False, width=200)


def _status_text(status: BlueprintStatus) -> str:
    return f"[{_STYLE[status]}]{status.value}[/]"


class LiveDisplay:
    """A table of jobs and an overall progress bar, redrawn in place on a terminal."""

    def __init__(self, name: str, jobs: Sequence[str]) -> None:
        self.console = console()
        # taken before the live view starts: it puts a stand-in that prints here as sys.stderr
        self._stderr = sys.stderr
        #: whether tasks' stderr shares this screen (else it goes where ours was sent)
        self._stderr_here = is_terminal(sys.stderr)
        self._status = {job: BlueprintStatus.NOT_READY for job in jobs}
        self._detail: dict[str, str] = {}
        self._why: Mapping[str, str] = {}
        self._since: dict[str, float] = {}
        #: when each job that waits to retry a task tries it again (counted down as drawn)
        self._retry_at: dict[str, float] = {}
        self._done = 0  # jobs whose status is final
        self._running = 0  # attempts under way, for the words of a stop
        self._stopping = False
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._bar = self._progress.add_task(name, total=len(jobs))
        self._colour = {job: _NAME_COLOURS[index % len(_NAME_COLOURS)] for index, job in enumerate(jobs)}
        # transient: the summary that follows says it all, and a last frame above it repeated it
        self._live = Live(self, console=self.console, refresh_per_second=8, transient=True)
        self._live.start()

    def notify(self, event: Event) -> None:
        """Keep the table up to date; the live display redraws it on its own."""
        if isinstance(event, RunStarted):
            self._why = event.why
        elif isinstance(event, JobChanged):
            # counted as they change: a count over every job at every change was quadratic
            # (a 10,000-job run's view spent most of its time there)
            self._done += event.status.is_final - self._status.get(event.job, BlueprintStatus.NOT_READY).is_final
            self._status[event.job] = event.status
            if event.reused:
                self._detail[event.job] = "reused"
            elif event.reason and event.status in (BlueprintStatus.SKIPPED, BlueprintStatus.CANCELLED):
                self._detail[event.job] = event.reason
            elif event.status is BlueprintStatus.READY and self._why.get(event.job) and event.job not in self._retry_at:
                self._detail[event.job] = self._why[event.job]  # until its first task starts
            if event.status is BlueprintStatus.RUNNING:
                self._since[event.job] = event.at
            self._progress.update(self._bar, completed=self._done)
        elif isinstance(event, Interrupted):
            self._stopping = True
            self.say(stopping_line(event, self._running))
        elif isinstance(event, TaskStarted):
            self._running += 1
            attempt = event.attempt
            tries = f" (attempt {attempt.number}/{event.retries + 1})" if attempt.number > 1 else ""
            self._detail[attempt.job] = f"{attempt.task}{tries}"
            self._retry_at.pop(attempt.job, None)
        if isinstance(event, TaskEnded):
            self._running -= 1
        if isinstance(event, TaskEnded) and not event.attempt.ok:
            self._detail[event.attempt.job] = f"{event.attempt.task}: {event.attempt.reason}"
            if event.retry_in:  # "retrying in 8 s", counted down as the table is drawn
                self._retry_at[event.attempt.job] = (event.attempt.ended or event.at) + event.retry_in
        if isinstance(event, Queued):
            self._detail[event.job] = f"waiting in the queue: {event.reason}" if event.reason else ""

    def settle(self) -> None:
        """Nothing to do: the live display redraws on its own clock."""

    def say(self, text: str) -> None:
        """Print ``text`` above the live table."""
        self.console.print(Text(text), highlight=False)  # a Text: the live table's markup is still read

    def show(self, lines: Sequence[Line], prefixed: bool) -> None:
        """Print tasks' lines above the live table, each job's name in its colour;
        stderr's there too while stderr is this terminal, else on stderr, as they are.

        A terminal takes far fewer lines a second than a task can print: of a batch
        longer than ``SCREENFUL`` only the last ones are drawn, the rest counted (the
        logs keep them all), so that the run never waits on the screen.
        """
        if not self._stderr_here:
            for from_stderr, run in groupby(lines, key=lambda line: line[2]):
                if from_stderr:
                    write_stderr(plain_lines(list(run), prefixed), self._stderr)
                else:
                    self._draw(list(run), prefixed)
            return
        self._draw(lines, prefixed)

    def _draw(self, lines: Sequence[Line], prefixed: bool) -> None:
        if len(lines) > SCREENFUL:
            left_out = len(lines) - SCREENFUL
            jobs = sorted({job for job, _text, _err in lines[:left_out]})
            where = f"pyoneer logs '{jobs[0]}'" if len(jobs) == 1 else "pyoneer logs JOB"
            note = (jobs[0], f"[... {left_out} lines not shown here, to keep up: {where} has them all]", False)
            lines = [note, *lines[left_out:]]
        text = Text(no_wrap=False)
        for index, (job, line, from_stderr) in enumerate(lines):
            if index:
                text.append("\n")  # between lines only: print ends the last one
            if prefixed:
                text.append(job, style=self._colour.get(job, "bold"))
                # stderr's lines told apart where both streams share the screen
                text.append(" | ", style="red" if from_stderr else "dim")
            text.append(line)
        self.console.print(text, highlight=False, soft_wrap=True)  # a Text: no markup is read in it

    def __rich__(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("job")
        table.add_column("status")
        table.add_column("task")
        table.add_column("time", justify="right")
        now = time.time()
        big = len(self._status) > SUMMARY_ROWS  # a big project: what moves, and what went wrong
        shown = 0
        for group, names in groupby(self._status, key=lambda name: name.partition("[")[0]):
            names = list(names)
            if names[0] != group:  # the members of a matrix: one line, then those worth one
                ends = [(self._status[name], self._detail.get(name) == "reused") for name in names]
                table.add_row(f"[bold]{escape(group)}[/]", escape(group_status(ends)), "", "")
                names = [name for name in names if self._status[name] in _WORTH_A_ROW or name in self._retry_at]
            elif big and self._status[names[0]] not in _WORTH_A_ROW and names[0] not in self._retry_at:
                continue
            for name in names:
                if shown >= SUMMARY_ROWS:
                    break
                shown += 1
                status = self._status[name]
                since = self._since.get(name)
                elapsed = seconds(now - since) if since and status is BlueprintStatus.RUNNING else ""
                label = escape(name) if name == group else "  " + escape(name)
                shown_status = "[magenta]stopping[/]" if self._stopping and status is BlueprintStatus.RUNNING else (
                    _status_text(status))
                detail = self._detail.get(name, "")
                if name in self._retry_at and not status.is_final:
                    detail += f", retrying in {max(0, math.ceil(self._retry_at[name] - now))} s"
                table.add_row(label, shown_status, escape(detail), elapsed)
        return Group(table, self._progress)

    def close(self) -> None:
        """Draw the last frame and give the terminal back."""
        self._live.stop()

    def summary(self, result: RunResult) -> None:
        """A table of jobs, why each failure failed, and the verdict, in colour."""
        print_summary(result, self.console)


def print_summary(result: RunResult, out: Console) -> None:
    """The end of a run on a terminal (see ``display.plain_summary`` for the words)."""
    rows, hidden = summary_rows(result)
    table = Table(title=f"run {result.run_id}", title_justify="left", header_style="bold")
    why = any(row.why for row in rows)  # a run that --resume or a target decided
    for header in (*HEADERS, "why") if why else HEADERS:
        table.add_column(header, justify="right" if header in ("attempts", "duration") else "left")
    for row in rows:
        if row.group:
            status, name = escape(row.status), f"[bold]{escape(row.job)}[/]"
        else:
            status = "[green]reused[/]" if row.reused else _status_text(BlueprintStatus(row.status))
            name = escape(row.job)
        table.add_row(name, status, row.attempts, row.duration, *([f"[dim]{escape(row.why)}[/]"] if why else []))
    if hidden:
        table.caption = f"{hidden} more jobs, all succeeded: see pyoneer status"
    if rows:
        out.print(table)
    else:
        out.print(f"run {result.run_id}", highlight=False)
    for loss in losses(result):
        out.print(f"[magenta]lost[/]: {escape(loss)}", highlight=False)
    for failure in failures(result):
        out.print(f"[bold red]{escape(failure.job)}[/] {escape(failure.headline)}", highlight=False)
        if failure.log is None:
            for line in failure.same_way():
                out.print(escape(line), highlight=False)
            continue
        if failure.tail:
            out.print("  last lines of its output:", style="dim")
            for line in failure.tail:
                out.print("  | " + escape(line), highlight=False, soft_wrap=True)
        else:
            out.print("  (it printed nothing)", style="dim")
        out.print(f"  full log: {escape(failure.log)}", highlight=False)
        for line in failure.same_way():
            out.print(escape(line), highlight=False)
    head, rest = verdict(result)
    out.print(f"[{_VERDICT_STYLE[head]}]{head}[/]: {escape(rest)}", highlight=False)
