"""What the summary of an ended run says: its rows, its failures, its verdict.

Plain data, shared by the plain display (``pyoneer.cli.display``) and the terminal's
(``pyoneer.cli.terminal``), which only decide how it looks.
"""

from __future__ import annotations

import os
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pyoneer.status import BlueprintStatus

if TYPE_CHECKING:
    from pyoneer.pyoneers.events import Interrupted
    from pyoneer.pyoneers.results import JobResult, RunResult

#: up to this many jobs, the summary lists every one
SUMMARY_ROWS = 40

#: lines of a failed task's output shown under the summary
TAIL_LINES = 15



class Row(NamedTuple):
    """One job's line in the summary table."""

    job: str
    status: str
    attempts: str
    duration: str
    reused: bool = False
    #: the line of a whole matrix (``train  9/10 succeeded, 1 failed``), its members below it
    group: bool = False
    #: why it ran or was reused, in a run that --resume or a target decided
    why: str = ""


class Failure(NamedTuple):
    """Why a job failed: a headline, and the tail of its failed task's log."""

    job: str
    headline: str
    tail: tuple[str, ...] = ()
    log: str | None = None
    #: the other jobs that failed the same way (their task's reason and last line alike),
    #: each with its log: shown once, under this one's tail
    alike: tuple[tuple[str, str | None], ...] = ()

    def same_way(self) -> list[str]:
        """The lines that name the jobs that failed like this one, with their logs."""
        if not self.alike:
            return []
        kind = "members" if all("[" in job for job, _log in self.alike) else "jobs"
        lines = [f"and {len(self.alike)} more {kind} failed the same way:"]
        return lines + [f"  {job}" + (f"  log: {log}" if log else "") for job, log in self.alike]


HEADERS = ("job", "status", "attempts", "duration")


def summary_rows(result: RunResult) -> tuple[list[Row], int]:
    """The lines the table lists, and how many more jobs (all succeeded) it leaves out.

    A matrix is one line with the count of its members' ends, followed by the members
    that did not succeed. A project of more than ``SUMMARY_ROWS`` jobs lists only the
    jobs that did not succeed.
    """
    big = len(result.jobs) > SUMMARY_ROWS
    rows: list[Row] = []
    hidden = 0
    for group, members in groupby(result.jobs, key=lambda job: job.group):
        members = list(members)
        if members[0].name == group:  # a job without a matrix
            job = members[0]
            if big and job.status is BlueprintStatus.SUCCEEDED:
                hidden += 1
            else:
                rows.append(_job_row(job))
            continue
        ends = [(job.status, job.reused) for job in members]
        span = _span([job.started for job in members], [job.ended for job in members])
        rows.append(Row(group, group_status(ends), "", seconds(span), group=True))
        rows += [_job_row(job, "  ") for job in members if job.status is not BlueprintStatus.SUCCEEDED]
    if len(rows) > SUMMARY_ROWS:
        hidden += len(rows) - SUMMARY_ROWS
        rows = rows[:SUMMARY_ROWS]
    return rows, hidden


def _job_row(job: JobResult, indent: str = "") -> Row:
    status = "reused" if job.reused else job.status.value
    why = job.why
    if not why and job.status in (BlueprintStatus.SKIPPED, BlueprintStatus.CANCELLED):
        why = job.reason  # why it did not run: the job it needed, or what stopped the run
    return Row(indent + job.name, status, str(job.tries), seconds(job.duration), job.reused, why=why)


def _span(starts: list[float | None], ends: list[float | None]) -> float | None:
    started = [at for at in starts if at is not None]
    ended = [at for at in ends if at is not None]
    return max(ended) - min(started) if started and ended else None


def group_status(ends: list[tuple[BlueprintStatus, bool]]) -> str:
    """How a matrix's members stand, in words: ``9/10 succeeded (2 reused), 1 failed``."""
    counts: dict[BlueprintStatus, int] = {}
    for status, _reused in ends:
        counts[status] = counts.get(status, 0) + 1
    reused = sum(1 for status, was in ends if was)
    succeeded = counts.pop(BlueprintStatus.SUCCEEDED, 0)
    words = [f"{succeeded}/{len(ends)} succeeded" + (f" ({reused} reused)" if reused else "")]
    words += [f"{count} {status.value}" for status in BlueprintStatus if (count := counts.get(status))]
    return ", ".join(words)


def losses(result: RunResult) -> list[str]:
    """Each attempt cut short by the loss of its worker (a node gone), in words."""
    return [
        f"{attempt.job}/{attempt.task} attempt {attempt.number}: {attempt.reason}; tried again on another worker"
        if job.status is not BlueprintStatus.FAILED or attempt is not job.attempts[-1]
        else f"{attempt.job}/{attempt.task} attempt {attempt.number}: {attempt.reason}"
        for job in result.jobs
        for attempt in job.attempts
        if attempt.lost
    ]


def failures(result: RunResult) -> list[Failure]:
    """Each distinct failure: its first job's failed attempt and the last lines of that
    attempt's log, then the other jobs that failed the same way (a sweep whose members
    all raise one error prints its traceback once)."""
    folded: dict[tuple[str, str], Failure] = {}
    for failure in _each_failure(result):
        last = next((line.strip() for line in reversed(failure.tail) if line.strip()), "")
        key = (failure.headline, last)
        first = folded.get(key)
        if first is None:
            folded[key] = failure
        else:
            folded[key] = first._replace(alike=(*first.alike, (failure.job, failure.log)))
    return list(folded.values())


def _each_failure(result: RunResult) -> list[Failure]:
    found = []
    for job in result.jobs:
        attempt = job.failure
        if attempt is not None:
            tries = f" (after {attempt.number} attempts)" if attempt.number > 1 else ""
            found.append(
                Failure(
                    job.name,
                    f"failed: task {attempt.task} {attempt.reason}{tries}",  # the job's name aside: folded on
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


def stopping_line(event: Interrupted, running: int) -> str:
    """What a Ctrl-C (or SIGTERM) answers: the tasks it ends, and how to end them now."""
    tasks = f"{running} task" + ("" if running == 1 else "s")
    if event.kill:
        return f"killing {tasks}"
    return f"stopping: ending {tasks} (Ctrl-C again to kill them now)"


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
