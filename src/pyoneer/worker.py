"""The worker: a pyoneer that runs one job at a time on this machine.

A worker is lazy and solitary: handed a job, it runs the job's tasks in order (each
attempt a child process, retried as the task allows), reports to its manager, and then
waits, holding the ended job, until the manager unassigns it. It never schedules and
never talks to another worker. ``run`` returns at once; the job goes on in the worker's
own thread, and the manager hears of it through ``report``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pyoneer.blueprints import Job, Task
from pyoneer.events import Attempt, Event, JobEnded, TaskEnded, TaskStarted
from pyoneer.machine import ForkServer, TaskProcess, WarmProcess, Watchdog, can_run_warm, python_argv
from pyoneer.pyoneer import Pyoneer
from pyoneer.status import BlueprintStatus, PyoneerStatus
from pyoneer.workspace import RunContext

Report = Callable[[Event], None]


class Worker(Pyoneer):
    """Runs the tasks of one job at a time, in order, as child processes of this machine."""

    role = "worker"

    def __init__(
        self, name: str, context: RunContext, report: Report, watchdog: Watchdog | None = None
    ) -> None:
        super().__init__(name)
        self._context = context
        self._watchdog = watchdog
        #: run tasks as forks of a warm interpreter where they allow it
        self.warm = True
        self._server: ForkServer | None = None
        self._server_env: dict[str, str] = {}
        self._report = report
        self._thread: threading.Thread | None = None
        self._process: TaskProcess | None = None
        self._stopping = False

    def get_status(self) -> PyoneerStatus:
        """What this worker is doing."""
        return self._status

    def get_blueprint_status(self) -> BlueprintStatus | None:
        """How its job stands: ready, running, then succeeded, failed or cancelled."""
        return self._blueprint_status

    def start(self) -> None:
        """Become idle, ready to be handed a job; start warming an interpreter up."""
        self._become(PyoneerStatus.IDLE)
        project = self._context.project
        # a warm interpreter pays off from the second task on; it starts while the first runs
        if self.warm and not project.fresh and sum(len(job.tasks) for job in project.jobs) > 1:
            self._warm_up()

    def assign(self, blueprint: Job) -> None:
        """Take ``blueprint``, a job; raises ``AssignmentError`` if it holds one."""
        self._take(blueprint, BlueprintStatus.READY)

    def unassign(self) -> Job:
        """Let go of the ended job and go back to idle."""
        return self._release()

    def run(self) -> None:
        """Start the held job in the worker's thread and return at once."""
        with self._guard:
            self._become(PyoneerStatus.WORKING)
            self._mark(BlueprintStatus.RUNNING)
            job = self._blueprint
            self._thread = threading.Thread(
                target=self._work, args=(job,), name=f"pyoneer-{self.name}", daemon=True
            )
        self._thread.start()

    def stop(self) -> None:
        """Cancel the job in progress (ending its processes' trees) and stop for good."""
        with self._guard:
            self._stopping = True
            process = self._process
        if process is not None:
            process.end()
        if self._thread is not None:
            self._thread.join()
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._guard:
            if self._status is not PyoneerStatus.STOPPED:
                self._become(PyoneerStatus.STOPPED)

    # The job, in the worker's thread ----------------------------------------------

    def _work(self, job: Job) -> None:
        status = self._run_tasks(job)
        with self._guard:
            self._mark(status)
            self._become(PyoneerStatus.ASSIGNED)
        self._report(JobEnded(worker=self.name, job=job.name, status=status))

    def _run_tasks(self, job: Job) -> BlueprintStatus:
        for task, name in zip(job.tasks, job.task_names):
            for number in range(1, task.retries + 2):
                if self._stopping:
                    return BlueprintStatus.CANCELLED
                attempt = self._attempt(job, task, name, number)
                if attempt.ok:
                    break
                if attempt.cancelled:
                    return BlueprintStatus.CANCELLED
            else:
                return BlueprintStatus.FAILED
        return BlueprintStatus.SUCCEEDED

    def _attempt(self, job: Job, task: Task, name: str, number: int) -> Attempt:
        context = self._context
        attempt = Attempt(
            job=job.name,
            task=name,
            number=number,
            log=context.log_path(job.name, name, number),
            started=time.time(),
        )
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",  # so a log shows output as it happens, in order
            **dict(context.project.environment.env),
            **task.environment,
            **context.task_environment(job.name, name, number),
        }
        argv = python_argv(context.project.root / task.script, task.args)
        with self._guard:
            if self._stopping:
                return replace(attempt, ended=time.time(), cancelled=True)
            self._process = process = self._launch(job, task, argv, env, attempt.log)
        self._report(TaskStarted(worker=self.name, attempt=attempt, retries=task.retries))
        ended = self._wait(process, task.timeout, attempt)
        self._report(TaskEnded(worker=self.name, attempt=ended, retries=task.retries))
        return ended

    def _launch(
        self, job: Job, task: Task, argv: list[str], env: dict[str, str], log: Path
    ) -> TaskProcess | WarmProcess:
        """A warm fork when the task allows it, else a fresh interpreter."""
        project = self._context.project
        root = project.root
        if self.warm and self._server is not None and not (task.fresh or job.fresh or project.fresh):
            if not self._server.alive:
                self._warm_up()
            # while the server still starts up, a fresh interpreter is no slower
            if self._server.ready() and can_run_warm(env, self._server_env):
                preload = (*project.preload, *job.preload)
                return self._server.spawn(argv, root, env, log, preload, self._watchdog)
        return TaskProcess(argv, root, env, log, self._watchdog)

    def _warm_up(self) -> None:
        self._server = ForkServer()
        self._server_env = dict(os.environ)

    def _wait(self, process: TaskProcess | WarmProcess, timeout: float | None, attempt: Attempt) -> Attempt:
        code = process.wait(timeout)
        timed_out = code is None
        if timed_out:
            code = process.end()
        process.sweep()
        with self._guard:
            self._process = None
            # an attempt that ends while its worker stops was stopped, even if it exited 0
            # (a graceful SIGTERM handler): its job must not look like it succeeded
            cancelled = self._stopping
        return replace(
            attempt,
            ended=time.time(),
            exit_code=code,
            timed_out_after=timeout if timed_out and not cancelled else None,
            cancelled=cancelled,
        )
