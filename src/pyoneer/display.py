"""What a person sees of a run: a live view on a terminal, plain lines elsewhere, a summary.

Both views are observers of the manager; they only print, and never decide anything.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pyoneer.blueprints import Project
from pyoneer.events import Event, Interrupted, JobChanged, TaskEnded, TaskStarted
from pyoneer.results import JobResult, RunResult
from pyoneer.status import BlueprintStatus

_STYLE = {
    BlueprintStatus.NOT_READY: "dim",
    BlueprintStatus.READY: "cyan",
    BlueprintStatus.RUNNING: "bold blue",
    BlueprintStatus.SUCCEEDED: "green",
    BlueprintStatus.FAILED: "bold red",
    BlueprintStatus.SKIPPED: "yellow",
    BlueprintStatus.CANCELLED: "magenta",
}

_WORTH_A_ROW = (BlueprintStatus.RUNNING, BlueprintStatus.FAILED, BlueprintStatus.CANCELLED)

#: lines of a failed task's output shown under the summary
TAIL_LINES = 15


def _status_text(status: BlueprintStatus) -> str:
    return f"[{_STYLE[status]}]{status.value}[/]"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


def make_view(project: Project, console: Console) -> LiveView | PlainView:
    """The live view on a terminal, plain lines anywhere else."""
    return LiveView(project, console) if console.is_terminal else PlainView(console)


class PlainView:
    """One line per change of status, for logs and pipes: plain text, written as it comes."""

    def __init__(self, console: Console) -> None:
        self.out = console.file

    def notify(self, event: Event) -> None:
        """Print a line for a job's change of status or a failed attempt."""
        line = _plain_line(event)
        if line:
            stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
            self._write(f"{stamp} {line}\n")

    def settle(self) -> None:
        """The manager is about to wait: let the lines out."""
        self._write("")

    def close(self) -> None:
        """Let the last lines out."""
        self._write("")

    def _write(self, text: str) -> None:
        if self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (BrokenPipeError, ValueError):
            # the reader went away (``| head``): the run goes on; its record is the ledger
            self.out = None


def _plain_line(event: Event) -> str:
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


class LiveView:
    """A table of jobs and an overall progress bar, redrawn in place on a terminal."""

    def __init__(self, project: Project, console: Console) -> None:
        self.console = console
        self._status = {job.name: BlueprintStatus.NOT_READY for job in project.jobs}
        self._detail: dict[str, str] = {}
        self._since: dict[str, float] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._bar = self._progress.add_task(project.name, total=len(project.jobs))
        self._live = Live(self, console=console, refresh_per_second=8, transient=False)
        self._live.start()

    def notify(self, event: Event) -> None:
        """Keep the table up to date; the live display redraws it on its own."""
        if isinstance(event, JobChanged):
            self._status[event.job] = event.status
            if event.reused:
                self._detail[event.job] = "reused"
            if event.status is BlueprintStatus.RUNNING:
                self._since[event.job] = event.at
            done = sum(status.is_final for status in self._status.values())
            self._progress.update(self._bar, completed=done)
        elif isinstance(event, TaskStarted):
            attempt = event.attempt
            tries = f" (attempt {attempt.number}/{event.retries + 1})" if attempt.number > 1 else ""
            self._detail[attempt.job] = f"{attempt.task}{tries}"
        elif isinstance(event, TaskEnded) and not event.attempt.ok:
            self._detail[event.attempt.job] = f"{event.attempt.task}: {event.attempt.reason}"

    def __rich__(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("job")
        table.add_column("status")
        table.add_column("task")
        table.add_column("time", justify="right")
        now = time.time()
        rows = list(self._status.items())
        if len(rows) > SUMMARY_ROWS:  # a big project: what moves, and what went wrong
            rows = [(n, s) for n, s in rows if s in _WORTH_A_ROW][:SUMMARY_ROWS]
        for name, status in rows:
            since = self._since.get(name)
            elapsed = _seconds(now - since) if since and status is BlueprintStatus.RUNNING else ""
            table.add_row(escape(name), _status_text(status), escape(self._detail.get(name, "")), elapsed)
        return Group(table, self._progress)

    def close(self) -> None:
        """Draw the last frame and give the terminal back."""
        self._live.stop()


def print_summary(result: RunResult, console: Console) -> None:
    """The end of a run: a table of jobs, why each failure failed, and the verdict.

    A big project lists only the jobs that did not succeed (``pyoneer status`` has all).
    """
    shown = _summary_jobs(result)
    table = Table(title=f"run {result.run_id}", title_justify="left", header_style="bold")
    table.add_column("job")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("duration", justify="right")
    for job in shown:
        status = "[green]reused[/]" if job.reused else _status_text(job.status)
        table.add_row(escape(job.name), status, str(job.tries), _seconds(job.duration))
    if len(shown) < len(result.jobs):
        table.caption = f"{len(result.jobs) - len(shown)} more jobs, all succeeded: see pyoneer status"
    if shown:
        console.print(table)
    else:
        console.print(f"run {result.run_id}", highlight=False)
    for job in result.jobs:
        if job.failure is not None:
            _print_failure(job, console)
        elif job.status is BlueprintStatus.FAILED and job.reason:
            console.print(f"[bold red]{escape(job.name)}[/] failed: {escape(job.reason)}", highlight=False)
    console.print(_verdict(result), highlight=False)


#: up to this many jobs, the summary lists every one
SUMMARY_ROWS = 40


def _summary_jobs(result: RunResult) -> list[JobResult]:
    if len(result.jobs) <= SUMMARY_ROWS:
        return list(result.jobs)
    unhappy = [job for job in result.jobs if job.status is not BlueprintStatus.SUCCEEDED]
    return unhappy[:SUMMARY_ROWS]


def _print_failure(job: JobResult, console: Console) -> None:
    attempt = job.failure
    tries = f" (after {attempt.number} attempts)" if attempt.number > 1 else ""
    console.print(
        f"[bold red]{escape(job.name)}[/] failed: task {escape(attempt.task)} {attempt.reason}{tries}",
        highlight=False,
    )
    tail = last_lines(attempt.log, TAIL_LINES)
    if tail:
        console.print("  last lines of its output:", style="dim")
        for line in tail:
            console.print("  | " + escape(line), highlight=False, soft_wrap=True)
    else:
        console.print("  (it printed nothing)", style="dim")
    console.print(f"  full log: {escape(_shown(attempt.log))}", highlight=False)


def _shown(path: Path) -> str:
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


def _verdict(result: RunResult) -> str:
    counts: dict[str, int] = {}
    for job in result.jobs:
        word = "reused" if job.reused else job.status.value
        counts[word] = counts.get(word, 0) + 1
    parts = ", ".join(f"{count} {word}" for word, count in counts.items())
    took = _seconds(result.ended - result.started)
    if result.interrupted:
        head = "[magenta]interrupted[/]"
    elif result.ok:
        head = "[green]done[/]"
    else:
        head = "[bold red]failed[/]"
    return f"{head}: {parts} in {took}"
