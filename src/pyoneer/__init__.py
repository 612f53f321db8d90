"""Pyoneer: run plain Python scripts as jobs and projects, here or on many machines.

The public API is exactly ``__all__`` (pinned by a test). Its names are imported when
first used, so that ``pyoneer``'s command line starts quickly (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: where each public name lives
_HOMES = {
    "AssignmentError": "errors",
    "BlueprintStatus": "status",
    "Engine": "engine",
    "Environment": "blueprints",
    "Job": "blueprints",
    "JobResult": "results",
    "Kind": "blueprints",
    "LocalEngine": "engine",
    "Manager": "manager",
    "Project": "blueprints",
    "ProjectError": "errors",
    "Pyoneer": "pyoneer",
    "PyoneerError": "errors",
    "PyoneerStatus": "status",
    "Resources": "blueprints",
    "RunResult": "results",
    "StateRow": "pyoneer",
    "Task": "blueprints",
    "TransitionError": "errors",
    "UsageError": "errors",
    "Worker": "worker",
    "load": "projectfile",
    "run": "runner",
}

__all__ = [
    "AssignmentError",
    "BlueprintStatus",
    "Engine",
    "Environment",
    "Job",
    "JobResult",
    "Kind",
    "LocalEngine",
    "Manager",
    "Project",
    "ProjectError",
    "Pyoneer",
    "PyoneerError",
    "PyoneerStatus",
    "Resources",
    "RunResult",
    "StateRow",
    "Task",
    "TransitionError",
    "UsageError",
    "Worker",
    "__version__",
    "load",
    "run",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pyoneer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pyoneer.{home}"), name)
    globals()[name] = value  # once found, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


if TYPE_CHECKING:  # for type checkers and editors: the names, as if imported eagerly
    from pyoneer.blueprints import Environment, Job, Kind, Project, Resources, Task
    from pyoneer.engine import Engine, LocalEngine
    from pyoneer.errors import (
        AssignmentError,
        ProjectError,
        PyoneerError,
        TransitionError,
        UsageError,
    )
    from pyoneer.manager import Manager
    from pyoneer.projectfile import load
    from pyoneer.pyoneer import Pyoneer, StateRow
    from pyoneer.results import JobResult, RunResult
    from pyoneer.runner import run
    from pyoneer.status import BlueprintStatus, PyoneerStatus
    from pyoneer.worker import Worker
