"""The manager: a pyoneer that works on one project by handing its jobs to workers.

The manager never starts a process. It asks its engine for workers, assigns each ready
job to an idle worker while CPU slots allow, and reacts to what workers report. Its loop
is one step at a time (``step``), so it can be driven and tested one event at a time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.pyoneers.context import RunContext, new_run_id
from pyoneer.pyoneers.engine import Engine
from pyoneer.pyoneers.events import (
    Attempt,
    Event,
    Interrupted,
    JobChanged,
    JobEnded,
    Observer,
    PyoneerChanged,
    RunEnded,
    RunStarted,
    TaskEnded,
    WorkerLost,
)
from pyoneer.pyoneers.plan import Change, Plan
from pyoneer.pyoneers.pyoneer import Pyoneer, StateRow
from pyoneer.pyoneers.results import JobResult, RunResult
from pyoneer.status import BlueprintStatus, PyoneerStatus

#: how the ledger and ``pyoneer runs`` name the end of a run
_RESULT_WORDS = {
    BlueprintStatus.SUCCEEDED: "succeeded",
    BlueprintStatus.FAILED: "failed",
    BlueprintStatus.CANCELLED: "interrupted",
}

#: how many times a job whose worker was lost is handed to another worker
MAX_REASSIGNMENTS = 3

#: seconds an idle worker waits for another job before it is let go
IDLE_TIMEOUT = 60.0

#: seconds a busy manager may go between two settles (ledger commits)
SETTLE_EVERY = 0.02

#: how long the loop waits for a report before looking around again (seconds)
_POLL = 0.5


class Manager(Pyoneer):
    """Runs one project: at most ``workers`` jobs at once, within ``workers`` CPU slots.

    A job takes as many slots as its ``cpus`` (all of them if it asks for more, so it
    runs alone rather than never).
    """

    role = "manager"

    def __init__(
        self,
        engine: Engine,
        workers: int | None = None,
        observers: Sequence[Observer] = (),
        name: str = "manager",
        run_id: str | None = None,
        reuse: frozenset[str] = frozenset(),
    ) -> None:
        """``reuse`` names jobs that succeeded in an earlier run and are not run again."""
        super().__init__(name)
        self.engine = engine
        self.requested_slots = workers
        self.slots = workers or 1  # settled when the run opens: the engine knows its size
        self.observers = list(observers)
        self.run_id = run_id or new_run_id()
        self.reuse = reuse
        self._inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._workers: dict[str, Pyoneer] = {}
        self._made = 0
        self._idle: list[Pyoneer] = []
        self._idle_since: dict[str, float] = {}
        self._lost: dict[str, int] = {}
        self._reasons: dict[str, str] = {}
        self._free = 0.0
        self._taken: dict[str, float] = {}
        self._attempts: dict[str, list[Attempt]] = {}
        self._holder: dict[str, str] = {}
        self._jobs: dict[str, Job] = {}
        self._plan: Plan | None = None
        self._context: RunContext | None = None
        self._interrupted = False
        self._settled = time.monotonic()

    # The seven methods of the seed -------------------------------------------------

    def get_status(self) -> PyoneerStatus:
        """What the manager is doing."""
        return self._status

    def get_blueprint_status(self) -> BlueprintStatus | None:
        """How its project stands."""
        return self._blueprint_status

    def start(self) -> None:
        """Become idle, ready to be handed a project."""
        self._become(PyoneerStatus.IDLE)

    def assign(self, blueprint: Project) -> None:
        """Take ``blueprint``, a project; raises ``AssignmentError`` if it holds one."""
        self._take(blueprint, BlueprintStatus.READY)

    def unassign(self) -> Project:
        """Let go of the ended project and go back to idle."""
        return self._release()

    def run(self) -> RunResult:
        """Run the held project to its end (or until interrupted) and return the result."""
        with self._guard:
            self._become(PyoneerStatus.WORKING)
            self._mark(BlueprintStatus.RUNNING)
            project: Project = self._blueprint
        started = time.time()
        self._open(project)
        try:
            while not self._plan.finished:
                self.step(_POLL)
        finally:
            self._release_workers()
        status = self._verdict()
        with self._guard:
            self._mark(status)
            self._become(PyoneerStatus.ASSIGNED)
        result = self._result(project, started)
        self._tell(self)
        self._notify(RunEnded(self.run_id, _RESULT_WORDS[status], status))
        self._settle()
        return result

    def stop(self) -> None:
        """Stop every worker (ending their processes) and stop for good."""
        self._release_workers()
        with self._guard:
            if self._status is PyoneerStatus.STOPPED:
                return
            self._become(PyoneerStatus.STOPPED)
        if self._plan is not None:
            self._tell(self)
            self._settle()

    # Driving the run ---------------------------------------------------------------

    def interrupt(self, reason: str = "interrupted") -> None:
        """Ask the run to stop; safe to call from a signal handler or another thread."""
        self._inbox.put(Interrupted(reason))

    def step(self, timeout: float | None = None) -> None:
        """One turn of the loop: hand out ready jobs, then handle one report.

        Observers settle (the ledger commits) before the manager waits, and after.
        """
        if not self._interrupted:
            self._dispatch()
            self._retire_idle()
        if self._inbox.empty():
            self._settle()  # about to wait: everything so far is written down first
        try:
            event = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return
        self._handle(event)
        if time.monotonic() - self._settled > SETTLE_EVERY:
            self._settle()  # busy: still, never more than SETTLE_EVERY behind

    def _settle(self) -> None:
        self._settled = time.monotonic()
        for observer in self.observers:
            settle = getattr(observer, "settle", None)
            if settle is not None:
                settle()

    def snapshot(self) -> list[StateRow]:
        """The state of the run: each pyoneer and its blueprint, then jobs no one holds."""
        rows = [self.state(), *(worker.state() for worker in self._workers.values())]
        held = {row.blueprint for row in rows[1:] if row.blueprint}
        plan = self._plan
        if plan is not None:
            rows += [
                StateRow("", "", None, "job", name, status)
                for name, status in plan.status.items()
                if name not in held
            ]
        return rows

    # Inside the loop ---------------------------------------------------------------

    def _open(self, project: Project) -> None:
        self.slots = self.requested_slots or self.engine.slots()
        self._free = float(self.slots)
        self._context = RunContext(self.run_id, project)
        self._jobs = {job.name: job for job in project.jobs}
        self._attempts = {name: [] for name in self._jobs}
        reused = self.reuse & self._jobs.keys()
        self._plan = Plan(project, reused)
        self._notify(RunStarted(self.run_id, project, frozenset(reused)))
        self._tell(self)
        for name in self._jobs:
            if name in reused:
                self._notify(JobChanged(name, BlueprintStatus.SUCCEEDED, reused=True))
        self._publish(self._plan.open())

    def _dispatch(self) -> None:
        plan = self._plan
        while (name := plan.next_ready()) is not None:
            need = min(float(self._jobs[name].resources.cpus), float(self.slots))
            if need > self._free + 1e-9:
                return  # first come, first served: a big job is not overtaken
            worker = self._idle_worker(self._jobs[name])
            if worker is None:
                return
            self._free -= need
            self._taken[name] = need
            self._holder[name] = worker.name
            self._publish([plan.start(name)], worker.name)
            worker.assign(self._jobs[name])
            self._tell(worker)
            worker.run()
            self._tell(worker)

    def _idle_worker(self, job: Job) -> Pyoneer | None:
        """An idle worker that fits ``job``, else a new one while there is room."""
        for index in range(len(self._idle) - 1, -1, -1):
            if self.engine.fits(self._idle[index], job):
                return self._idle.pop(index)
        # None fits: let them all go. Where workers hold resources (Ray actors), an idle
        # one may hold exactly what the new worker needs.
        while self._idle:
            self._retire(self._idle.pop())
        if len(self._workers) >= self.slots:
            return None
        self._made += 1
        name = f"worker-{self._made}"
        worker = self.engine.create_worker(name, self._context, self._inbox.put)
        worker.start()
        self._workers[name] = worker
        self._tell(worker)
        return worker

    def _handle(self, event: Event) -> None:
        if isinstance(event, Interrupted):
            self._interrupted = True
            self._notify(event)
            self._publish(self._plan.cancel_rest())
            self._release_workers()
            return
        if isinstance(event, TaskEnded):
            self._attempts[event.attempt.job].append(event.attempt)
        self._notify(event)
        if isinstance(event, JobEnded):
            self._job_ended(event)
        elif isinstance(event, WorkerLost):
            self._worker_lost(event)

    def _job_ended(self, event: JobEnded) -> None:
        worker = self._workers[event.worker]
        self._free += self._taken.pop(event.job)
        if event.reason:
            self._reasons[event.job] = event.reason
        self._publish(self._plan.finish(event.job, event.status), event.worker, event.reason)
        if worker.get_status() is PyoneerStatus.ASSIGNED:
            worker.unassign()
            self._tell(worker)
            self._idle.append(worker)  # lazy: it waits here for the next job
            self._idle_since[worker.name] = time.monotonic()

    def _worker_lost(self, event: WorkerLost) -> None:
        """A worker died mid-job: hand the job to another, a bounded number of times."""
        worker = self._workers.pop(event.worker)
        self._tell(worker)
        self._free += self._taken.pop(event.job)
        lost = self._lost[event.job] = self._lost.get(event.job, 0) + 1
        if self._interrupted:
            self._publish(self._plan.finish(event.job, BlueprintStatus.CANCELLED))
        elif lost <= MAX_REASSIGNMENTS:
            self._publish([self._plan.requeue(event.job)], reason=f"{event.worker} lost: {event.reason}")
        else:
            reason = f"{lost} workers lost while running it (last: {event.reason})"
            self._reasons[event.job] = reason
            self._publish(self._plan.finish(event.job, BlueprintStatus.FAILED), reason=reason)

    def _retire_idle(self) -> None:
        """Let go of workers that have waited longer than ``IDLE_TIMEOUT``."""
        now = time.monotonic()
        for worker in [w for w in self._idle if now - self._idle_since.get(w.name, now) > IDLE_TIMEOUT]:
            self._idle.remove(worker)
            self._retire(worker)

    def _retire(self, worker: Pyoneer) -> None:
        worker.stop()
        self._tell(worker)
        del self._workers[worker.name]

    def _release_workers(self) -> None:
        working = [w for w in self._workers.values() if w.get_status() is not PyoneerStatus.STOPPED]
        # side by side: each stop may wait out a grace period before its SIGKILL
        stoppers = [threading.Thread(target=worker.stop) for worker in working]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for worker in working:
            self._tell(worker)
        self._idle.clear()

    def _tell(self, pyoneer: Pyoneer) -> None:
        self._notify(
            PyoneerChanged(pyoneer.name, pyoneer.role, pyoneer.get_status(), pyoneer.host, pyoneer.pid)
        )

    def _publish(self, changes: list[Change], worker: str = "", reason: str = "") -> None:
        for name, status in changes:
            holder = worker if status is not BlueprintStatus.SKIPPED else ""
            why = reason if name == changes[0][0] else ""
            self._notify(JobChanged(job=name, status=status, worker=holder, reason=why))

    def _notify(self, event: Event) -> None:
        for observer in self.observers:
            observer.notify(event)

    def _verdict(self) -> BlueprintStatus:
        if self._interrupted:
            return BlueprintStatus.CANCELLED
        statuses = self._plan.status.values()
        if all(status is BlueprintStatus.SUCCEEDED for status in statuses):
            return BlueprintStatus.SUCCEEDED
        return BlueprintStatus.FAILED

    def _result(self, project: Project, started: float) -> RunResult:
        jobs = tuple(
            JobResult(
                name=name,
                status=self._plan.status[name],
                attempts=tuple(self._attempts[name]),
                worker=self._holder.get(name, ""),
                reused=name in self.reuse,
                reason=self._reasons.get(name, ""),
            )
            for name in self._jobs
        )
        return RunResult(
            run_id=self.run_id,
            project=project.name,
            root=project.root,
            jobs=jobs,
            started=started,
            ended=time.time(),
            interrupted=self._interrupted,
        )
