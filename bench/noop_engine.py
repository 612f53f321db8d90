"""An in-process engine whose workers run nothing: the manager's cost, alone.

``NoopEngine`` is a ``pyoneer.Engine`` whose ``create_worker`` returns a ``NoopWorker``:
a worker pyoneer that, on ``run()``, marks its job succeeded and reports
``JobEnded(status=SUCCEEDED)`` to the manager at once, from the manager's own thread
(no thread, no process, no ``TaskStarted``/``TaskEnded``: the job has no attempts).

The manager handles ``JobEnded`` exactly as it does for a real worker: it frees the
job's slots, tells the plan (which makes the dependents ready), unassigns the worker
and keeps it idle for the next job. Used by workload E of ``bench.py``.
"""

from __future__ import annotations

import pyoneer
from pyoneer.pyoneers.worker import BaseWorker


class NoopWorker(BaseWorker):
    """A worker whose every job succeeds the moment it is run."""

    def run(self) -> None:
        """The same transitions a real worker goes through, then its report: no thread."""
        with self._guard:
            self._become(pyoneer.PyoneerStatus.WORKING)
            self._mark(pyoneer.BlueprintStatus.RUNNING)
            job = self._blueprint
        self._work(job)

    def _work(self, job: pyoneer.Job) -> None:
        self._end(job, pyoneer.BlueprintStatus.SUCCEEDED)


class NoopEngine(pyoneer.Engine):
    """Workers in this process that do nothing but succeed."""

    name = "noop"

    def __init__(self) -> None:
        self.created = 0

    def create_worker(self, name: str, context, report) -> NoopWorker:  # noqa: ANN001
        self.created += 1
        return NoopWorker(name, context, report)
