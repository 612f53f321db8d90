"""What the summary of an ended run says: its rows, its failures, its verdict.

Plain data, shared by the plain display (``pyoneer.cli.display``) and the terminal's
(``pyoneer.cli.terminal``), which only decide how it looks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pyoneer.status import BlueprintStatus

if TYPE_CHECKING:
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
