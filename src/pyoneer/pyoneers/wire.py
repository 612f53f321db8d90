"""Events and results as JSON values, to tell a run's story on another machine.

A submitted run's manager works on the cluster; the person who attaches to it sees
its events in the same terminal view as a local run's. What travels is plain data:
enums as their values, sets as lists, an attempt's log as its path under the project
root (each side has its own root), an error as its message. A ``RunStarted`` travels
without its project (a blueprint, with the cluster's paths): the far side gets
``project=None`` and the run's outline in the stream's own ``run`` line.
"""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Any

from pyoneer.errors import PyoneerError
from pyoneer.pyoneers import events as _events
from pyoneer.pyoneers.events import Attempt, Event, Resume
from pyoneer.pyoneers.results import JobResult, RunResult
from pyoneer.status import BlueprintStatus, PyoneerStatus, RunState

#: the events that travel, by name
KINDS: dict[str, type] = {
    kind.__name__: kind
    for kind in (_events.TaskStarted, _events.TaskEnded, _events.JobEnded, _events.Queued, _events.WorkerLost, _events.Faulted,
                 _events.JobChanged, _events.PyoneerChanged, _events.RunStarted, _events.RunEnded,
                 _events.Interrupted)
}


def event_to_wire(event: Event, root: Path) -> dict[str, Any]:
    """``event`` as a JSON value; paths under ``root`` become relative."""
    data: dict[str, Any] = {"kind": type(event).__name__}
    for item in fields(event):
        value = getattr(event, item.name)
        if item.name == "project":
            continue
        data[item.name] = _plain(value, root)
    return data


def event_from_wire(data: dict[str, Any], root: Path) -> Event:
    """The event that ``event_to_wire`` told, its paths under this side's ``root``."""
    kind = KINDS[data["kind"]]
    values: dict[str, Any] = {}
    for item in fields(kind):
        if item.name not in data and item.name != "project":
            continue  # told by an older Pyoneer: the default
        value = data.get(item.name)
        if item.name == "attempt":
            value = attempt_from_wire(value, root)
        elif item.name == "status":
            value = (PyoneerStatus if kind is _events.PyoneerChanged else BlueprintStatus)(value)
        elif item.name == "result":
            value = RunState(value)
        elif item.name == "error":
            value = PyoneerError(value)
        elif item.name == "reused":
            value = frozenset(value) if kind is _events.RunStarted else bool(value)
        elif item.name == "project":
            value = None
        elif item.name == "resume":
            value = Resume(**value) if value else None
        values[item.name] = value
    return kind(**values)


def result_to_wire(result: RunResult) -> dict[str, Any]:
    """A run's result as a JSON value."""
    return {
        "run_id": result.run_id, "project": result.project, "started": result.started, "ended": result.ended,
        "interrupted": result.interrupted,
        "jobs": [{"name": job.name, "status": job.status.value, "worker": job.worker, "reused": job.reused,
                  "reason": job.reason, "why": job.why,
                  "attempts": [_plain(attempt, result.root) for attempt in job.attempts]} for job in result.jobs],
    }


def result_from_wire(data: dict[str, Any], root: Path) -> RunResult:
    """The result that ``result_to_wire`` told, rooted at this side's ``root``."""
    jobs = tuple(
        JobResult(job["name"], BlueprintStatus(job["status"]),
                  tuple(attempt_from_wire(attempt, root) for attempt in job["attempts"]),
                  job["worker"], job["reused"], job["reason"], job["why"])
        for job in data["jobs"]
    )
    return RunResult(data["run_id"], data["project"], root, jobs, data["started"], data["ended"],
                     data["interrupted"])


def attempt_from_wire(data: dict[str, Any], root: Path) -> Attempt:
    """An attempt told as a JSON value, its log under ``root``."""
    values = {item.name: data[item.name] for item in fields(Attempt) if item.name in data}
    values["log"] = root / values["log"]
    values["imports"] = tuple(values.get("imports", ()))
    for name in ("learned", "refused"):  # pairs, told as lists
        values[name] = tuple(tuple(pair) for pair in values.get(name, ()))
    return Attempt(**values)


def _plain(value: Any, root: Path) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Attempt, Resume)):
        return {item.name: _plain(getattr(value, item.name), root) for item in fields(value)}
    if isinstance(value, Path):
        return value.relative_to(root).as_posix() if value.is_relative_to(root) else str(value)
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    if isinstance(value, tuple):
        return [_plain(item, root) for item in value]
    if isinstance(value, PyoneerError):
        return str(value)
    if hasattr(value, "items"):
        return dict(value)
    return value
