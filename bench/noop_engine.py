"""An in-process engine whose workers run nothing: the manager's cost, alone.

``NoopEngine`` is a ``pyoneer.Engine`` whose ``create_worker`` returns a ``NoopWorker``:
a ``pyoneer.Pyoneer`` that, on ``run()``, marks its job succeeded and reports
``JobEnded(status=SUCCEEDED)`` to the manager at once, from the manager's own thread
(no thread, no process, no ``TaskStarted``/``TaskEnded``: the job has no attempts).

The manager handles ``JobEnded`` exactly as it does for a real worker: it frees the
job's slots, tells the plan (which makes the dependents ready), unassigns the worker
and keeps it idle for the next job. Used by workload E of ``bench.py``.
"""

from __future__ import annotations

import pyoneer
from pyoneer.pyoneers.events import JobEnded


class NoopWorker(pyoneer.Pyoneer):
    """A worker whose every job succeeds the moment it is run."""

    role = "worker"

    def __init__(self, name: str, report) -> None:  # noqa: ANN001 - a pyoneer Report
        super().__init__(name)
        self._report = report

    def get_status(self) -> pyoneer.PyoneerStatus:
        return self._status

    def get_blueprint_status(self) -> pyoneer.BlueprintStatus | None:
        return self._blueprint_status

    def start(self) -> None:
        self._become(pyoneer.PyoneerStatus.IDLE)

    def assign(self, blueprint: pyoneer.Job) -> None:
        self._take(blueprint, pyoneer.BlueprintStatus.READY)

    def unassign(self) -> pyoneer.Job:
        return self._release()

    def run(self) -> None:
        # the same transitions a real Worker goes through, then its report
        with self._guard:
            self._become(pyoneer.PyoneerStatus.WORKING)
            self._mark(pyoneer.BlueprintStatus.RUNNING)
            job = self._blueprint
            self._mark(pyoneer.BlueprintStatus.SUCCEEDED)
            self._become(pyoneer.PyoneerStatus.ASSIGNED)
        self._report(JobEnded(worker=self.name, job=job.name, status=pyoneer.BlueprintStatus.SUCCEEDED))

    def stop(self) -> None:
        with self._guard:
            if self._status is not pyoneer.PyoneerStatus.STOPPED:
                self._become(pyoneer.PyoneerStatus.STOPPED)


class NoopEngine(pyoneer.Engine):
    """Workers in this process that do nothing but succeed."""

    name = "noop"

    def __init__(self) -> None:
        self.created = 0

    def create_worker(self, name: str, context, report) -> NoopWorker:  # noqa: ANN001
        self.created += 1
        return NoopWorker(name, report)
