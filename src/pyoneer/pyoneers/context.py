"""What every pyoneer of one run shares: its id, its project, where its logs go.

Logs live under the project's ``.pyoneer/`` directory (public; ``pyoneer logs`` and
users rely on it; see ``pyoneer.ledger.workspace``)::

    .pyoneer/runs/<run id>/<job>/<task>.<attempt>.log
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project

#: the directory, under the project root, where Pyoneer keeps its records
WORKSPACE = ".pyoneer"


def new_run_id() -> str:
    """A run id that sorts by start time and is unique: ``20261127-210812-3fa9``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


@dataclass(frozen=True)
class RunContext:
    """What every pyoneer of one run shares: its id, its project and where logs go."""

    run_id: str
    project: Project
    #: job -> the modules its earlier runs taught its fork server to preload (see
    #: ``pyoneer.ledger.learned``); a job without learning (``preload = false``) has none
    learned: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def directory(self) -> Path:
        """The run's own directory under ``.pyoneer/runs``."""
        return self.project.root / WORKSPACE / "runs" / self.run_id

    def log_path(self, job: str, task: str, attempt: int) -> Path:
        """The log file of one attempt of one task; a matrix member's folder is its escaped
        name (``test[os=ubuntu%2022.04]``: see ``pyoneer.blueprints.member_names``)."""
        return self.directory / self._folders.get(job, job) / f"{task}.{attempt}.log"

    @cached_property
    def _folders(self) -> dict[str, str]:
        """Each member's log folder, where it differs from its name (values to escape)."""
        return {job.name: job.folder for job in self.project.jobs if job.matrix and job.folder != job.name}

    def task_environment(self, job: Job, task: str, attempt: int) -> dict[str, str]:
        """The ``PYONEER_*`` variables every task sees (names are part of the contract).

        A matrix member's tasks also get ``PYONEER_MATRIX``: its values as a JSON object.
        """
        env = {
            "PYONEER_RUN_ID": self.run_id,
            "PYONEER_PROJECT": self.project.name,
            "PYONEER_JOB": job.name,
            "PYONEER_TASK": task,
            "PYONEER_ATTEMPT": str(attempt),
        }
        if job.matrix:
            from pyoneer.blueprints.placeholders import (
                as_json,  # only matrix members need it
            )

            env["PYONEER_MATRIX"] = json.dumps(as_json(dict(job.matrix)), separators=(",", ":"))
        return env
