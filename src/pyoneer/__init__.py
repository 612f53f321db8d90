"""Pyoneer: run plain Python scripts as jobs and projects, here or on many machines.

The public API is exactly ``__all__`` (pinned by a test).
"""

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

__version__ = "0.1.0"

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
