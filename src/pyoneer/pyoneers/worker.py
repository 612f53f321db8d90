"""The worker: a pyoneer that runs one job at a time (``BaseWorker``, for every engine),
and the local one that runs it on this machine (``Worker``).

A worker is lazy and solitary: handed a job, it runs the job's tasks in order (each
attempt a child process, retried as the task allows), reports to its manager, and then
waits, holding the ended job, until the manager unassigns it. It never schedules and
never talks to another worker. ``run`` returns at once; the job goes on in the worker's
own thread, and the manager hears of it through ``report``.

A failed attempt whose task waits before the next (``retry_delay``) does not wait here:
the worker hands the job back (``JobEnded`` with a ``Resume``), so that neither it nor
the job's slots sit idle through the wait; the manager hands the job out again once the
wait is over, and the worker that takes it goes on from that task's next attempt.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.retry import wait_before
from pyoneer.blueprints.task import Task
from pyoneer.errors import EXIT_FAILED, MachineError, PyoneerError
from pyoneer.machine.processes import TaskProcess, Watchdog, python_argv
from pyoneer.machine.warm import ForkServer, PreloadUnfit, ServedProcess, can_run_warm, imported, preload_env
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.engine import Report
from pyoneer.pyoneers.events import Attempt, Faulted, JobEnded, Resume, TaskEnded, TaskStarted
from pyoneer.pyoneers.pyoneer import Pyoneer
from pyoneer.pyoneers.slot_pool import Grant
from pyoneer.status import BlueprintStatus, PyoneerStatus

if TYPE_CHECKING:
    from pyoneer.machine.streams import Relay, TaskOutput

#: seconds a task waits for its worker's fork server to come up before running fresh
SERVER_START_TIMEOUT = 10.0


class BaseWorker(Pyoneer):
    """What every worker does, wherever it lives: the seven methods, and a job in a thread.

    ``run`` hands the held job to the worker's own thread (one for all its jobs) and
    returns at once; the thread calls ``_work`` (the subclass's: how a job runs where
    this worker lives), which ends with ``_end``. ``stop`` cancels (``_cancel``), waits for the thread, then lets go
    of what the worker held (``_let_go``). Anything that breaks the thread is reported as
    ``Faulted``, so that the run stops instead of waiting for ever.
    """

    role = "worker"

    def __init__(self, name: str, context: RunContext, report: Report) -> None:
        super().__init__(name)
        self._context = context
        self._report = report
        self._thread: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._stopping = False
        self._grant: Grant | None = None
        self._earlier: dict[str, int] = {}
        self._resume: Resume | None = None

    def get_status(self) -> PyoneerStatus:
        """What this worker is doing."""
        return self._status

    def get_blueprint_status(self) -> BlueprintStatus | None:
        """How its job stands: ready, running, then succeeded, failed or cancelled."""
        return self._blueprint_status

    def start(self) -> None:
        """Become idle, ready to be handed a job."""
        self._become(PyoneerStatus.IDLE)

    def assign(
        self, blueprint: Job, grant: Grant | None = None, earlier: Mapping[str, int] | None = None,
        resume: Resume | None = None,
    ) -> None:
        """Take ``blueprint``, a job; raises ``AssignmentError`` if it holds one.

        ``grant`` is what of the machine the job holds while it runs (its GPU devices).
        ``earlier``: how many attempts of each task (by name) workers lost with this job
        made; this worker numbers its own after them. ``resume``: the job was handed
        back to wait for a retry; it goes on from there, its earlier tasks done.
        """
        self._take(blueprint, BlueprintStatus.READY)
        self._grant = grant
        self._earlier = dict(earlier or {})
        self._resume = resume

    def unassign(self) -> Job:
        """Let go of the ended job and go back to idle."""
        return self._release()

    def run(self) -> None:
        """Start the held job in the worker's thread and return at once."""
        with self._guard:
            self._become(PyoneerStatus.WORKING)
            self._mark(BlueprintStatus.RUNNING)
            job = self._blueprint
            if self._thread is None:
                # one thread for all the worker's jobs: a thread started per job costs
                # more than a short task's own bookkeeping
                self._thread = threading.Thread(target=self._serve, name=f"pyoneer-{self.name}", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def stop(self) -> None:
        """Cancel the job in progress (ending its processes) and stop for good."""
        with self._guard:
            self._stopping = True
        self._cancel()
        if self._thread is not None:
            self._jobs.put(None)  # after the job it may be on: the thread ends
            self._thread.join()
        self._let_go()
        with self._guard:
            if self._status not in (PyoneerStatus.STOPPED, PyoneerStatus.LOST):
                self._become(PyoneerStatus.STOPPED)

    def withdraw(self) -> bool:
        """Give back the held job if it has not begun, because this worker is not placed
        yet (it waits in a cluster's queue): the worker then only awaits ``stop``. True if
        given back; a worker that cannot tell (or began) keeps it."""
        return False

    # For the subclasses ------------------------------------------------------------

    @abstractmethod
    def _work(self, job: Job) -> None:
        """Run ``job`` (in the worker's thread), then ``_end`` it (or report it lost)."""

    def _cancel(self) -> None:
        """``stop`` has begun: end what runs now (before the worker's thread is joined)."""

    def _let_go(self) -> None:
        """``stop``, once the worker's thread has ended: let go of what the worker holds."""

    def _end(self, job: Job, status: BlueprintStatus, reason: str = "", resume: Resume | None = None) -> None:
        """The job ended with ``status`` (or, with ``resume``, is handed back ``ready``
        to wait for a retry): the worker waits, assigned, to be unassigned."""
        with self._guard:
            self._mark(status)
            self._become(PyoneerStatus.ASSIGNED)
        self._report(JobEnded(worker=self.name, job=job.name, status=status, reason=reason, resume=resume))

    def _serve(self) -> None:
        """The worker's thread: each job handed to it, in turn, until ``stop``."""
        while (job := self._jobs.get()) is not None:
            self._follow_through(job)

    def _follow_through(self, job: Job) -> None:
        try:
            self._work(job)
        except OSError as exc:  # the machine refused one of the job's files (its logs), or a process
            error = MachineError.from_os(exc, "write") if exc.filename else (
                MachineError.from_os(exc, "start a task in", self._context.project.root)
            )
            self._report(Faulted(self.name, job.name, error.during_run()))
        except Exception as exc:  # noqa: BLE001 - a bug of ours: the run must stop, not hang
            error = PyoneerError(f"{self.name} broke while running {job.name}: {type(exc).__name__}: {exc}")
            error.exit_code = EXIT_FAILED
            self._report(Faulted(self.name, job.name, error))


def _devices(grant: Grant | None) -> dict[str, str]:
    """``CUDA_VISIBLE_DEVICES`` for a job whose GPUs the manager handed out: its own
    devices, or none at all for a job that asked for none (so it cannot take one by accident)."""
    if grant is None or grant.devices is None:
        return {}
    return {"CUDA_VISIBLE_DEVICES": ",".join(grant.devices)}


def _imports_file(log: Path) -> Path:
    """Where a warm attempt lists the modules it imported: beside its log, for a moment."""
    return log.with_suffix(".imports")


class Worker(BaseWorker):
    """Runs the tasks of one job at a time, in order, as child processes of this machine."""

    def __init__(
        self,
        name: str,
        context: RunContext,
        report: Report,
        watchdog: Watchdog | None = None,
        server: ForkServer | None = None,
        relay: Relay | None = None,
    ) -> None:
        super().__init__(name, context, report)
        self._watchdog = watchdog
        #: copies each task's stdout and stderr into its log, kept apart (None: the
        #: task writes its log itself, both in one)
        self._relay = relay
        #: run tasks as forks of a warm interpreter where they allow it
        self.warm = True
        #: the warm interpreter: started by ``start``, or handed over already started
        self._server = server
        self._server_env: dict[str, str] = dict(os.environ) if server is not None else {}
        self._process: TaskProcess | ServedProcess | None = None
        #: learned modules a fork server of this worker refused (never asked again), and
        #: those refused since the last attempt was told (see ``_launch``)
        self._refused: set[str] = set()
        self._unfit: tuple[tuple[str, str], ...] = ()
        #: (matrix, script) of the tasks that told what they imported: one of a matrix's
        #: members teaches the others (``pyoneer.ledger.learned``), its clock costs a task ~0.1 s
        self._clocked: set[tuple[str, str]] = set()

    def start(self) -> None:
        """Become idle, ready to be handed a job; start warming an interpreter up."""
        super().start()
        project = self._context.project
        # a warm interpreter pays off from the second task on (unless one was handed over);
        # tasks that run fresh are started from it too: cheaper than from this process
        wanted = self.warm and sum(len(job.tasks) for job in project.jobs) > 1
        if wanted and self._server is None:
            self._warm_up()

    def _cancel(self) -> None:
        with self._guard:
            process = self._process
            server = self._server
        if process is not None:
            process.end()
        if server is not None:
            server.kill()  # before the join: the thread may be waiting for it to start

    def _let_go(self) -> None:
        with self._guard:
            server, self._server = self._server, None
        if server is not None:
            server.close()

    # The job, in the worker's thread ----------------------------------------------

    def _work(self, job: Job) -> None:
        outcome = self._run_tasks(job, self._resume)
        if isinstance(outcome, Resume):
            self._end(job, BlueprintStatus.READY, resume=outcome)
        else:
            self._end(job, outcome)

    def _run_tasks(self, job: Job, resume: Resume | None = None) -> BlueprintStatus | Resume:
        """Run the job's tasks in order (from ``resume``'s task on, if given): how the job
        ended, or where it goes on once a failed attempt's wait (``retry_delay``) is over."""
        names = job.task_names
        if resume is not None and resume.task not in names:
            resume = None  # (never: the job is the same blueprint) all of it, then
        skip = names.index(resume.task) if resume is not None else 0
        for index, (task, name) in enumerate(zip(job.tasks, names)):
            if index < skip:
                continue  # done before the job was handed back
            first = self._earlier.get(name, 0) + 1  # after the attempts of workers lost with it
            last = first + task.retries
            if resume is not None and index == skip:
                first, last = resume.number, resume.last  # the tries it has left
            for number in range(first, last + 1):
                if self._stopping:
                    return BlueprintStatus.CANCELLED
                pause = wait_before(number, task.retry_delay, task.retry_backoff, task.retry_delay_max)
                attempt = self._attempt(job, task, name, number, pause if number < last else 0.0)
                if attempt.ok:
                    break
                if attempt.cancelled:
                    return BlueprintStatus.CANCELLED
                if number < last and pause:
                    # handed back rather than waited out here: the wait holds no slot
                    return Resume(name, number + 1, last, (attempt.ended or time.time()) + pause)
            else:
                return BlueprintStatus.FAILED
        return BlueprintStatus.SUCCEEDED

    def _attempt(self, job: Job, task: Task, name: str, number: int, pause: float = 0.0) -> Attempt:
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
            **context.task_environment(job, name, number),
            **_devices(self._grant),
        }
        argv = python_argv(context.project.root / task.script, task.args)
        server = self._warm_server(job, task, env)  # may wait: not while holding the guard
        warm = server is not None
        if not warm:
            server = self._launcher()
        output = self._relay.open(attempt.log) if self._relay is not None else None
        try:
            with self._guard:
                if self._stopping:
                    return replace(attempt, ended=time.time(), cancelled=True)
                self._process = process = self._launch(server, warm, job, argv, env, attempt.log, output)
        finally:
            if output is not None:
                output.close()  # the task holds them now: its end (and its tree's) closes the pipes
        self._report(TaskStarted(worker=self.name, attempt=attempt, retries=task.retries))
        ended = self._wait(process, task.timeout, attempt)
        if output is not None:
            # its last lines in its log before its end is told (a view reads them then)
            failed = self._relay.wait(output)
            if failed is not None:
                raise failed
        if warm:
            told = getattr(process, "imports", None)
            ended = replace(ended, imports=told if told is not None else imported(_imports_file(attempt.log)),
                            learned=getattr(process, "learned", None) or (),
                            refused=self._unfit + getattr(process, "refused", ()))
            self._unfit = ()
        retry_in = pause if not ended.ok and not ended.cancelled else 0.0
        self._report(TaskEnded(worker=self.name, attempt=ended, retries=task.retries, retry_in=retry_in))
        return ended

    def _warm_server(self, job: Job, task: Task, env: dict[str, str]) -> ForkServer | None:
        """The fork server to run this task, once it is up; None to run it fresh.

        A server that is still starting is waited for: it started before this task was
        due, so it is up sooner than a fresh interpreter would be.
        """
        project = self._context.project
        if not self.warm or self._server is None or task.fresh or job.fresh or project.fresh:
            return None
        if not can_run_warm(env, self._server_env):
            return None
        learn = self._context.learned.get(job.name)
        with self._guard:  # no new server once stop() has begun
            if self._stopping:
                return None
            if not self._server.alive:
                self._warm_up()
            elif learn and self._server.preloaded_with not in (None, preload_env(env)):
                # it imported its preloads with another job's environment: one of our own
                self._server.close()
                self._warm_up()
            server = self._server
        return server if server.wait_ready(SERVER_START_TIMEOUT) else None

    def _launcher(self) -> ForkServer | None:
        """The fork server, if it is up already, to start a fresh interpreter from."""
        with self._guard:
            server = None if self._stopping else self._server
        return server if server is not None and server.alive and server.ready() else None

    def _launch(
        self, server: ForkServer | None, warm: bool, job: Job, argv: list[str], env: dict[str, str], log: Path,
        output: TaskOutput | None,
    ) -> TaskProcess | ServedProcess:
        """A warm fork, or a fresh interpreter: from the fork server if there is one."""
        project = self._context.project
        if server is not None:
            preload = (*project.preload, *job.preload) if warm else ()
            learned = self._context.learned
            learn = tuple(name for name in learned.get(job.name, ()) if name not in self._refused) if warm else ()
            learning = job.name in learned and self._learning(job, argv)
            try:
                return server.spawn(argv, project.root, env, log, preload, self._watchdog, fresh=not warm,
                                    imports=_imports_file(log), learn=learn, learning=learning, output=output)
            except PreloadUnfit as unfit:
                # a learned module left the server unfit to fork: never a failed task for
                # it, but a new server without it (told once, in the ledger and on stderr)
                self._refused.update(name for name, _ in unfit.refused)
                self._unfit += unfit.refused
                server.close()
                self._warm_up()
                if not self._server.wait_ready(SERVER_START_TIMEOUT):
                    return TaskProcess(argv, project.root, env, log, self._watchdog, output)
                return self._launch(self._server, warm, job, argv, env, log, output)
        return TaskProcess(argv, project.root, env, log, self._watchdog, output)

    def _learning(self, job: Job, argv: list[str]) -> bool:
        """Whether this task should tell what it imports: a plain job's every task, one
        task of each script of a matrix per worker (its members import alike)."""
        if not job.matrix:
            return True
        script = argv[1] if len(argv) > 1 else ""
        if (job.group, script) in self._clocked:
            return False
        self._clocked.add((job.group, script))
        return True

    def _warm_up(self) -> None:
        self._server = ForkServer()
        self._server_env = dict(os.environ)

    def _wait(self, process: TaskProcess | ServedProcess, timeout: float | None, attempt: Attempt) -> Attempt:
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
