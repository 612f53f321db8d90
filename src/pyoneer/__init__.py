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
    "Engine": "pyoneers.engine",
    "Environment": "blueprints.project",
    "Job": "blueprints.job",
    "JobResult": "pyoneers.results",
    "Kind": "blueprints.kind",
    "LocalEngine": "engines.local",
    "Manager": "pyoneers.manager",
    "Project": "blueprints.project",
    "ProjectError": "errors",
    "Pyoneer": "pyoneers.pyoneer",
    "PyoneerError": "errors",
    "PyoneerStatus": "status",
    "Resources": "blueprints.job",
    "RunResult": "pyoneers.results",
    "StateRow": "pyoneers.pyoneer",
    "Task": "blueprints.task",
    "TransitionError": "errors",
    "UsageError": "errors",
    "Worker": "pyoneers.worker",
    "load": "blueprints.projectfile",
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
    from pyoneer.blueprints.job import Job, Resources
    from pyoneer.blueprints.kind import Kind
    from pyoneer.blueprints.project import Environment, Project
    from pyoneer.blueprints.projectfile import load
    from pyoneer.blueprints.task import Task
    from pyoneer.engines.local import LocalEngine
    from pyoneer.errors import (
        AssignmentError,
        ProjectError,
        PyoneerError,
        TransitionError,
        UsageError,
    )
    from pyoneer.pyoneers.engine import Engine
    from pyoneer.pyoneers.manager import Manager
    from pyoneer.pyoneers.pyoneer import Pyoneer, StateRow
    from pyoneer.pyoneers.results import JobResult, RunResult
    from pyoneer.pyoneers.worker import Worker
    from pyoneer.runner import run
    from pyoneer.status import BlueprintStatus, PyoneerStatus
