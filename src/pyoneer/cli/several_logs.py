"""``pyoneer logs GLOB`` when the glob matches several jobs or matrix members.

Without ``-f`` each one's log is printed under a header with its name (as ``tail`` does
for several files); with ``-f`` they are followed together until their jobs have ended,
each line headed by its job's name, stderr's on stderr, as ``pyoneer run`` shows a run
of several jobs.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from pyoneer.ledger import history
from pyoneer.ledger.store import Ledger, RunRow, standing
from pyoneer.machine.streams import StderrPieces
from pyoneer.status import OPEN_STATUSES, RunState

_OPEN = tuple(status.value for status in OPEN_STATUSES)


def matching(ledger: Ledger, run: RunRow, pattern: str) -> list[str]:
    """The jobs and members of ``run`` that the glob ``pattern`` (``*``, ``?``) matches;
    ``[]`` when it is no glob."""
    if not any(mark in pattern for mark in "*?"):
        return []
    glob = re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))
    return [row["name"] for row in ledger.assignments(run.id) if row["kind"] == "job" and glob.fullmatch(row["name"])]


def print_several(ledger: Ledger, run: RunRow, jobs: list[str], task: str, attempt: int | None, root: Path) -> None:
    """Each job's task logs (the latest attempt, or ``attempt``), each under its header."""
    rows: list[dict[str, Any]] = []
    for job in jobs:
        rows += history.log_attempts(ledger, run, f"{job}/{task}" if task else job, attempt)
    history.print_logs(rows, root)  # several rows: each gets its header


def follow_several(ledger: Ledger, run_id: str, jobs: list[str], task: str, root: Path,
                   out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
    """Print the jobs' logs as they grow, each line headed ``job | `` (stderr's on
    ``err``, as the relay's index tells them apart), until every one of these jobs has
    ended (or the run has)."""
    streams = {False: out or sys.stdout.buffer, True: err or sys.stderr.buffer}
    wanted = set(jobs)
    offsets: dict[tuple[str, int], int] = {}
    indexes: dict[tuple[str, int], StderrPieces] = {}
    partial: dict[tuple[str, int, bool], bytes] = {}
    while True:
        run = ledger.run(run_id)
        rows = ledger.assignments(run.id)
        ending = {row["name"]: row["status"] for row in rows if row["kind"] == "job" and row["name"] in wanted}
        finished = standing(run) is not RunState.RUNNING or not any(status in _OPEN for status in ending.values())
        for row in sorted((row for row in rows if row["kind"] == "task" and _wanted(row["name"], wanted, task)),
                          key=lambda row: (row["started"] or 0, row["name"], row["attempt"])):
            key = (row["name"], row["attempt"])
            index = indexes.setdefault(key, StderrPieces(root / row["log"]))
            index.refresh()  # before the log: every byte read next is listed if it is stderr's
            start = offsets.get(key, 0)
            data, offsets[key] = history.read_from(root / row["log"], start)
            prefix = history.job_of(row["name"]).encode() + b" | "
            runs = index.split(start, data)
            if finished:  # its attempt has ended: each stream's last line, even without a newline
                runs += [(False, b""), (True, b"")]
            for from_stderr, run_bytes in runs:
                pieces = (partial.pop((*key, from_stderr), b"") + run_bytes).split(b"\n")
                rest = pieces.pop()
                if finished and rest:
                    pieces.append(rest)
                elif rest:
                    partial[(*key, from_stderr)] = rest
                streams[from_stderr].write(b"".join(prefix + piece + b"\n" for piece in pieces))
        for stream in streams.values():
            stream.flush()
        if finished:
            for index in indexes.values():
                index.close()
            return
        time.sleep(history.FOLLOW_POLL)


def _wanted(name: str, jobs: set[str], task: str) -> bool:
    job, _, its_task = name.rpartition("/")
    return job in jobs and (not task or its_task == task)
