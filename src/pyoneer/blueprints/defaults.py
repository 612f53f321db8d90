"""How tasks are tried, set once for a job's tasks or for every task of the project.

``retries``, ``retry_delay``, ``retry_backoff``, ``retry_delay_max`` and ``timeout`` may be
written on a task, on its job (for its tasks) and under ``[project]`` (for every task).
A task's own value wins, then its job's, then the project's. None of them is part of a
job's fingerprint (they change how a job is tried, not what it computes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pyoneer.blueprints.job import Job

#: the keys a job or the project may set for its tasks
TRIED_KEYS = ("retries", "retry_delay", "retry_backoff", "retry_delay_max", "timeout")


def tried_as_set(job: Job, written: Sequence[object], job_table: Mapping[str, Any],
                 project_table: Mapping[str, Any]) -> Job:
    """``job`` with each task's ``TRIED_KEYS`` that its own table (``written``, the tasks as
    the file lists them) leaves out taken from ``job_table``, else ``project_table``."""
    defaults = {key: project_table[key] for key in TRIED_KEYS if key in project_table}
    defaults.update({key: job_table[key] for key in TRIED_KEYS if key in job_table})
    if not defaults:
        return job
    tasks = []
    for task, item in zip(job.tasks, written):
        own = item if isinstance(item, Mapping) else {}
        tasks.append(replace(task, **{key: value for key, value in defaults.items() if key not in own}))
    return replace(job, tasks=tuple(tasks))
