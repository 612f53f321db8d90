"""Reading runs back from the ledger, for people and programs: status, runs, logs.

Nothing here writes. A run whose manager is gone but which the ledger still calls
running is shown as it truly stands: interrupted, its open work cancelled, its pyoneers
lost — the same picture the next ``pyoneer run`` writes down.
"""

from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from pyoneer.errors import LedgerError, MachineError
from pyoneer.ledger.store import Ledger, RunRow, interrupted, standing
from pyoneer.status import OPEN_STATUSES, BlueprintStatus, PyoneerStatus, RunState

_OPEN = tuple(status.value for status in OPEN_STATUSES)

#: seconds between looks at a log being followed
FOLLOW_POLL = 0.2
#: seconds a followed job's logs must stay still after its end before ``logs -f`` returns
FOLLOW_QUIET = 1.5


# status ------------------------------------------------------------------------------


def run_state(ledger: Ledger, run_id: str | None = None) -> dict[str, Any]:
    """The state of a run (the latest by default) as plain data: the ``--json`` shape."""
    run = ledger.run(run_id)
    pyoneers = ledger.pyoneers(run.id)
    blueprints = ledger.assignments(run.id)
    ended = run.ended
    died = interrupted(run)
    if died:  # as the next run will write it down (Ledger.mark_interrupted)
        ended = ledger.last_change(run.id)
        for pyoneer in pyoneers:
            pyoneer["status"] = _lost(pyoneer["status"])
        for row in blueprints:
            if row["status"] in _OPEN:
                row["status"] = BlueprintStatus.CANCELLED.value
                row["ended"] = row["ended"] or ended
            row["pyoneer_status"] = _lost(row["pyoneer_status"])
    now = time.time()
    for row in blueprints:
        row["reused"] = bool(row["reused"])
        if row["retry_at"] is not None and row["status"] in _OPEN:
            row["why"] = retrying_in(row["retry_at"], row["why"] or "", now)
        row["matrix"] = json.loads(row["matrix"]) if row["matrix"] else None
        row["needs"] = json.loads(row["needs"]) if row["needs"] else None
    return {
        "run": {
            "id": run.id,
            "project": run.project,
            "result": (RunState.INTERRUPTED if died else run.result).value,
            "started": run.started,
            "ended": ended,
            "manager": {"pid": run.pid, "host": run.host},
            "resumed_from": run.resumed_from,
        },
        "pyoneers": pyoneers,
        "blueprints": blueprints,
    }


def retrying_in(at: float, why: str, now: float) -> str:
    """``retrying in 8 s (attempt 2 of 3)``: a job's wait before a retry, counted down to
    ``at`` as it is read (the ledger keeps the time, ``why`` its ``(attempt ...)``)."""
    _, paren, attempt = why.partition(" (")
    return f"retrying in {max(0, math.ceil(at - now))} s" + (f" ({attempt}" if paren else "")


# runs --------------------------------------------------------------------------------


def run_list(ledger: Ledger) -> list[dict[str, Any]]:
    """Every run, oldest first, with how many jobs ended which way: the ``--json`` shape.

    ``matrices`` counts the members of each matrix the same way (they are counted among
    ``jobs`` too).
    """
    counts = ledger.job_counts()
    members = ledger.member_counts()
    listed = []
    for run in ledger.runs():
        jobs = dict(counts.get(run.id, {}))
        matrices = {group: dict(ends) for group, ends in members.get(run.id, {}).items()}
        ended = run.ended
        died = interrupted(run)
        if died:
            ended = ledger.last_change(run.id)
            for tally in (jobs, *matrices.values()):
                open_jobs = sum(tally.pop(status, 0) for status in _OPEN)
                if open_jobs:
                    tally["cancelled"] = tally.get("cancelled", 0) + open_jobs
        listed.append(
            {
                "id": run.id,
                "project": run.project,
                "started": run.started,
                "ended": ended,
                "result": (RunState.INTERRUPTED if died else run.result).value,
                "resumed_from": run.resumed_from,
                "jobs": jobs,
                "matrices": matrices,
            }
        )
    return listed


def _lost(status: str | None) -> str | None:
    """A pyoneer's status once its run's manager has died: lost, unless it had stopped."""
    return status if status in (None, PyoneerStatus.STOPPED.value) else PyoneerStatus.LOST.value


# logs --------------------------------------------------------------------------------


def split_target(target: str) -> tuple[str, str]:
    """``JOB/TASK`` -> ``(JOB, TASK)``; a member's values may hold ``/``
    (``test[dockerfile=16/a]/main``), so its name ends at its last ``]``."""
    close = target.rfind("]") if "[" in target else -1
    if close != -1 and (close == len(target) - 1 or target[close + 1] == "/"):
        return target[: close + 1], target[close + 2:]
    job, _, task = target.partition("/")
    return job, task


def job_of(task_row: str) -> str:
    """The job of a task's assignment name (``JOB/TASK``; a task's name has no ``/``)."""
    return task_row.rpartition("/")[0]


def log_attempts(ledger: Ledger, run: RunRow, target: str, attempt: int | None) -> list[dict[str, Any]]:
    """The attempts whose logs ``JOB`` or ``JOB/TASK`` names: the chosen or latest of each task."""
    rows = [row for row in ledger.assignments(run.id) if row["kind"] == "task"]
    job, task = split_target(target)
    chosen = [row for row in rows if row["name"] == target or (not task and job_of(row["name"]) == job)]
    if attempt is not None:
        chosen = [row for row in chosen if row["attempt"] == attempt]
    latest: dict[str, dict[str, Any]] = {}
    for row in chosen:
        if row["name"] not in latest or row["attempt"] > latest[row["name"]]["attempt"]:
            latest[row["name"]] = row
    return sorted(latest.values(), key=lambda row: (row["started"] or 0, row["name"]))


def reused_from(ledger: Ledger, run: RunRow, job: str) -> RunRow | None:
    """The earlier run where ``job``, reused by ``run`` (``--resume``), really ran; or None.

    A reused job's row names that run (since schema 3); an older row is followed back
    through the runs each resumed, past those that reused the job too.
    """
    current = run
    while True:
        row = next((r for r in ledger.assignments(current.id) if r["kind"] == "job" and r["name"] == job), None)
        if row is None:
            return None
        if not row["reused"]:
            return None if current is run else current
        if row["reused_from"]:
            try:
                return ledger.run(row["reused_from"])
            except LedgerError:
                return None
        if not current.resumed_from:
            return None
        try:
            current = ledger.run(current.resumed_from)
        except LedgerError:
            return None  # that run is gone from the ledger


def resolve_job(ledger: Ledger, run: RunRow, pattern: str) -> str:
    """The job (or matrix member) of ``run`` that ``pattern`` names: its very name, or a
    glob (``*``, ``?``; brackets are literal) that matches exactly one of its jobs."""
    rows = [row for row in ledger.assignments(run.id) if row["kind"] == "job"]
    jobs = [row["name"] for row in rows]
    if pattern in jobs:
        return pattern
    escaped = _escaped(rows, pattern)
    if escaped:
        return escaped
    members = [name for name in jobs if name.startswith(pattern + "[")]
    if members:
        raise LedgerError(f"{pattern!r} is a matrix of {len(members)} members in run {run.id}: {_some(members)}",
                          hint=f"name one, or a glob that matches one, e.g. '{pattern}*'")
    if not any(mark in pattern for mark in "*?"):
        return pattern
    glob = re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))
    matches = [name for name in jobs if glob.fullmatch(name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise LedgerError(f"no job of run {run.id} matches {pattern!r}", hint=f"its jobs: {_some(jobs)}")
    raise LedgerError(f"{pattern!r} matches {len(matches)} jobs of run {run.id}: {_some(matches)}",
                      hint="make the pattern match exactly one, e.g. 'train*seed=1*'")


def _escaped(rows: list[dict[str, Any]], pattern: str) -> str | None:
    """The member whose escaped name (or log folder's) is ``pattern``, or None."""
    if "%" not in pattern and "~" not in pattern:
        return None
    from pyoneer.blueprints.member_names import forms, from_json

    for row in rows:
        if row.get("matrix") and pattern in forms(row["name"].partition("[")[0], from_json(json.loads(row["matrix"]))):
            return row["name"]
    return None


def _some(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def check_target(ledger: Ledger, run: RunRow, target: str) -> None:
    """Refuse a ``JOB[/TASK]`` that the run does not have."""
    rows = ledger.assignments(run.id)
    jobs = [row["name"] for row in rows if row["kind"] == "job"]
    job, task = split_target(target)
    if job not in jobs:
        raise LedgerError(f"run {run.id} has no job {job!r}", hint=f"its jobs: {_some(jobs)}")
    if task:
        tasks = sorted({row["name"].rpartition("/")[2] for row in rows if row["kind"] == "task" and job_of(row["name"]) == job})
        if task not in tasks:
            hint = f"its tasks so far: {', '.join(tasks)}" if tasks else "none of its tasks has started"
            raise LedgerError(f"job {job!r} of run {run.id} has no task {task!r}", hint=hint)


def print_logs(rows: list[dict[str, Any]], root: Path, out: BinaryIO | None = None) -> None:
    """Print each attempt's log as it is (bytes), with a header when there are several.

    A log that cannot be read (removed since the run wrote it) is a ``MachineError``
    naming it, once the others are printed.
    """
    out = out or sys.stdout.buffer
    missing: OSError | None = None
    for row in rows:
        if len(rows) > 1:
            out.write(_header(row))
        try:
            out.write((root / row["log"]).read_bytes())
        except OSError as exc:
            missing = missing or exc
    out.flush()
    if missing is not None:
        raise MachineError.from_os(missing, "read the log")


def _header(row: dict[str, Any]) -> bytes:
    return f"==> {row['name']} (attempt {row['attempt']}) <==\n".encode()


def follow_logs(ledger: Ledger, run_id: str, target: str, root: Path, out: BinaryIO | None = None) -> None:
    """Print ``target``'s logs as they grow, attempt after attempt, until its job has ended."""
    out = out or sys.stdout.buffer
    job = split_target(target)[0]
    offsets: dict[tuple[str, int], int] = {}
    followed = False  # the job was still open at some look: its end may come before its last bytes
    quiet = 0.0
    while True:
        run = ledger.run(run_id)
        finished = standing(run) is not RunState.RUNNING or _job_status(ledger, run.id, job) not in _OPEN
        rows = sorted(
            (row for row in ledger.assignments(run.id) if row["kind"] == "task" and _names(row["name"], target)),
            key=lambda row: (row["started"] or 0, row["name"], row["attempt"]),
        )
        grew = False
        for row in rows:
            key = (row["name"], row["attempt"])
            if key not in offsets:
                offsets[key] = 0
                out.write(_header(row))
            text, offsets[key] = read_from(root / row["log"], offsets[key])
            out.write(text)
            grew = grew or bool(text)
        out.flush()
        if finished:
            # a submitted run's mirror may hear the job's end before its log's last bytes:
            # a followed job ends once its logs have stopped growing a while too
            quiet = 0.0 if grew else quiet + FOLLOW_POLL
            if not followed or quiet >= FOLLOW_QUIET:
                return
        followed = followed or not finished
        time.sleep(FOLLOW_POLL)


def _names(name: str, target: str) -> bool:
    return name == target or (not split_target(target)[1] and job_of(name) == target)


def _job_status(ledger: Ledger, run_id: str, job: str) -> str:
    for row in ledger.assignments(run_id):
        if row["kind"] == "job" and row["name"] == job:
            return row["status"]
    return BlueprintStatus.CANCELLED.value


def read_from(path: Path, offset: int) -> tuple[bytes, int]:
    """What a log holds past ``offset`` (nothing if it cannot be read), and the new offset."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            data = log.read()
    except OSError:
        return b"", offset
    return data, offset + len(data)


def ledger_of(root: Path) -> Ledger:
    """The ledger of the project at ``root``, for reading (never created here)."""
    return Ledger.open(root, create=False)
