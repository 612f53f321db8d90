"""The manager: a pyoneer that works on one project by handing its jobs to workers.

The manager never starts a process. It asks its engine for workers, assigns each ready
job to an idle worker while CPU slots allow, and reacts to what workers report. Its loop
is one step at a time (``step``), so it can be driven and tested one event at a time.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Mapping, Sequence

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.errors import PyoneerError
from pyoneer.pyoneers.context import RunContext, new_run_id
from pyoneer.pyoneers.engine import Engine
from pyoneer.pyoneers.events import (
    Event,
    Faulted,
    Interrupted,
    JobChanged,
    JobEnded,
    Observer,
    PyoneerChanged,
    Queued,
    Resume,
    RunEnded,
    RunStarted,
    TaskEnded,
    TaskStarted,
    WorkerLost,
)
from pyoneer.pyoneers.plan import Change, Plan
from pyoneer.pyoneers.pyoneer import Pyoneer, StateRow
from pyoneer.pyoneers.results import RunResult
from pyoneer.pyoneers.slot_pool import SlotPool
from pyoneer.pyoneers.tally import Tally
from pyoneer.pyoneers.worker_pool import WorkerPool
from pyoneer.status import BlueprintStatus, PyoneerStatus, RunState

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
    runs alone rather than never), and the GPUs and custom resources it asks for where
    the engine has the manager hand them out (the local engine): its worker is given
    them with the job. The manager keeps the algorithm; what it knows of one
    run lives in per-run data structures made when the run opens: the plan (which job
    may start), the slot pool, the worker pool and the tally (what happened to each job).
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
        idle_timeout: float | None = None,
        why: Mapping[str, str] | None = None,
        learned: Mapping[str, tuple[str, ...]] | None = None,
        cutoff: Callable[[str], str | None] | None = None,
    ) -> None:
        """``reuse`` names jobs that succeeded in an earlier run and are not run again;
        ``why`` says, of some jobs, why they run or are reused (``--resume``, targets);
        a worker idle for ``idle_timeout`` seconds is let go (default: what the engine
        says, else ``IDLE_TIMEOUT``); ``learned``: what each job's fork server preloads,
        learned from earlier runs (a job left out learns nothing: ``preload = false``);
        ``cutoff`` says why a job whose needed jobs just succeeded is reused after all
        (``pyoneer.ledger.uptodate.cut_off``), or None: it runs."""
        super().__init__(name)
        # a manager submitted to Slurm lives in a batch job: status shows which
        self.allocation = os.environ.get("SLURM_JOB_ID", "")
        self.engine = engine
        self.requested_slots = workers
        self.observers = list(observers)
        self.run_id = run_id or new_run_id()
        self.reuse = reuse
        self.why: Mapping[str, str] = why or {}
        self.learned: Mapping[str, tuple[str, ...]] = learned or {}
        self.cutoff = cutoff
        if idle_timeout is None:
            idle_timeout = engine.idle_timeout()
        self.idle_timeout = IDLE_TIMEOUT if idle_timeout is None else idle_timeout
        #: what stopped the run, when the machine or a worker did (raised by the runner)
        self.fault: PyoneerError | None = None
        #: True once the run's start is written down (before it, a fault means nothing ran)
        self.opened = False
        self._inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._interrupted = False
        self._stopped_by = ""  # why the run stopped, for the jobs it cancelled
        self._settled = time.monotonic()
        self._started = 0.0
        # the run's bookkeeping, made by _open
        self._context: RunContext | None = None
        self._jobs: dict[str, Job] = {}
        self._plan: Plan | None = None
        self._slots: SlotPool | None = None
        self._pool: WorkerPool | None = None
        self._tally: Tally | None = None
        #: workers not placed yet (in a cluster's queue), and the job each holds
        self._waiting: dict[str, str] = {}
        #: jobs handed back to wait for a retry, and where each goes on (until it has: a
        #: job moved before its worker began it still goes on from there)
        self._resume: dict[str, Resume] = {}

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
        self.begin()
        try:
            while not self.finished:
                self.step(_POLL)
        except BaseException:
            self._release_workers()  # nothing left running, whatever broke the loop
            raise
        return self.conclude()

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

    def begin(self) -> None:
        """Start working on the held project: open the run (``run`` = begin, steps, conclude)."""
        with self._guard:
            self._become(PyoneerStatus.WORKING)
            self._mark(BlueprintStatus.RUNNING)
            project: Project = self._blueprint
        self._started = time.time()
        self._open(project)

    @property
    def finished(self) -> bool:
        """True once every job of the run has ended (or the run has not begun)."""
        return self._plan is None or self._plan.finished

    def conclude(self) -> RunResult:
        """End the finished run: stop its workers, give the verdict, and say what happened."""
        self._release_workers()
        status = self._verdict()
        with self._guard:
            self._mark(status)
            self._become(PyoneerStatus.ASSIGNED)
            project: Project = self._blueprint
        result = RunResult(
            run_id=self.run_id,
            project=project.name,
            root=project.root,
            jobs=self._tally.results(self._plan.status, self.reuse | self._plan.cut_off.keys(),
                                     {**self.why, **self._plan.cut_off}),
            started=self._started,
            ended=time.time(),
            interrupted=self._interrupted and self.fault is None,
        )
        self._tell(self)
        self._notify(RunEnded(self.run_id, RunState.ended_as(status), status))
        self._settle()
        return result

    def interrupt(self, reason: str = "interrupted") -> None:
        """Ask the run to stop; safe to call from a signal handler or another thread."""
        self._inbox.put(Interrupted(reason))

    def step(self, timeout: float | None = None) -> None:
        """One turn of the loop: hand out ready jobs, then handle one report.

        Observers settle (the ledger commits) before the manager waits, and after. A job
        resting before a retry is queued again once its wait is over: the manager waits
        for a report no longer than that.
        """
        if not self._interrupted:
            now = time.time()
            self._plan.wake(now)
            due = self._plan.next_wake()
            if due is not None:
                # back in time for it: a run whose only work left is a wait neither hangs nor ends
                timeout = max(0.0, due - now) if timeout is None else min(timeout, max(0.0, due - now))
            self._dispatch()
            if self._waiting and self._reclaim():
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
        workers = self._pool.workers.values() if self._pool is not None else ()
        rows = [self.state(), *(worker.state() for worker in workers)]
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
        slots = self.requested_slots or self.engine.slots()
        capacity = self.engine.capacity()
        self._slots = SlotPool(slots, gpus=capacity.gpus, custom=None if capacity.custom is None else dict(capacity.custom))
        self._pool = WorkerPool(limit=slots)
        self._context = RunContext(self.run_id, project, self.learned)
        self._jobs = {job.name: job for job in project.jobs}
        self._tally = Tally(self._jobs)
        reused = self.reuse & self._jobs.keys()
        self._plan = Plan(project, reused, self.cutoff)
        self._notify(RunStarted(self.run_id, project, frozenset(reused), self.why))
        self._tell(self)
        for name in self._jobs:
            if name in reused:
                self._notify(JobChanged(name, BlueprintStatus.SUCCEEDED, reused=True))
        self._publish(self._plan.open())
        self.opened = True

    def _dispatch(self) -> None:
        plan = self._plan
        while (name := plan.next_ready()) is not None:
            job = self._jobs[name]
            grant = self._slots.take(name, job.resources)
            if grant is None:
                impossible = self._slots.never_fits(job.resources)
                if impossible:  # (the local engine refuses such a job before the run)
                    self._tally.reasons[name] = impossible
                    plan.start(name)
                    self._publish(plan.finish(name, BlueprintStatus.FAILED), reason=impossible)
                    continue
                return  # first come, first served: a big job is not overtaken
            resume = self._resume.get(name)
            # a job that goes on after its wait prefers the worker it left (its files, on Ray)
            worker = self._idle_worker(job, self._tally.holders.get(name) if resume else None)
            if worker is None:
                self._slots.give_back(name)
                return
            self._tally.holders[name] = worker.name
            self._publish([plan.start(name)], worker.name)
            worker.assign(job, grant, earlier=self._tally.earlier(name), resume=resume)
            self._tell(worker)
            worker.run()
            self._tell(worker)

    def _idle_worker(self, job: Job, prefer: str | None = None) -> Pyoneer | None:
        """An idle worker that fits ``job`` (``prefer``, if it is one), else a new one while there is room."""
        pool = self._pool
        worker = pool.take_idle(lambda idle: self.engine.fits(idle, job), prefer)
        if worker is not None:
            return worker
        # None fits: let them all go. Where workers hold resources (Ray actors), an idle
        # one may hold exactly what the new worker needs.
        for idle in pool.drain_idle():
            self._retire(idle)
        if pool.full:
            return None
        worker = self.engine.create_worker(pool.new_name(), self._context, self._inbox.put)
        worker.start()
        pool.add(worker)
        self._tell(worker)
        return worker

    def _handle(self, event: Event) -> None:
        if isinstance(event, Interrupted):
            self._notify(event)
            self._wind_down(f"the run was stopped ({event.reason})")
            return
        if isinstance(event, Queued):
            self._queued(event)
        elif isinstance(event, TaskStarted):
            self._tally.began(event.attempt)
            self._resume.pop(event.attempt.job, None)  # it went on: a worker lost from now starts it over
        elif isinstance(event, TaskEnded):
            self._tally.attempted(event.attempt)
        self._notify(event)
        if isinstance(event, JobEnded):
            self._job_ended(event)
        elif isinstance(event, WorkerLost):
            self._worker_lost(event)
        elif isinstance(event, Faulted):
            self._faulted(event)

    def _queued(self, event: Queued) -> None:
        if event.reason:
            self._waiting[event.worker] = event.job
        else:
            self._waiting.pop(event.worker, None)

    def _reclaim(self) -> bool:
        """Jobs whose workers still wait in the cluster's queue move to idle workers that
        fit them (lazy workers at work, the queue skipped); True if one moved."""
        moved = False
        for name, job in list(self._waiting.items()):
            if not any(self.engine.fits(idle, self._jobs[job]) for idle in self._pool.idle()):
                continue
            worker = self._pool.workers.get(name)
            if worker is None or not worker.withdraw():
                continue  # placed meanwhile: it runs the job itself
            del self._waiting[name]
            self._retire(worker)
            self._slots.give_back(job)
            self._publish([self._plan.requeue(job)], reason=f"moved from {name}, still in the queue, to an idle worker")
            moved = True
        return moved

    def _wind_down(self, why: str) -> None:
        """Stop the run: cancel what has not started, and stop every worker; ``why``
        is told of every job it cancels."""
        self._interrupted = True
        self._stopped_by = why
        self._publish(self._plan.cancel_rest(), reason=why)
        self._release_workers()

    def _job_ended(self, event: JobEnded) -> None:
        self._waiting.pop(event.worker, None)
        worker = self._pool.workers[event.worker]
        self._slots.give_back(event.job)
        status, reason = event.status, event.reason
        if event.resume is not None and not self._interrupted:
            # handed back to wait for a retry: ready again once the wait is over, holding
            # no worker and no slot meanwhile
            self._resume[event.job] = event.resume
            self._publish([self._plan.rest(event.job, event.resume.at)])
        else:
            self._resume.pop(event.job, None)
            if event.resume is not None:
                status = BlueprintStatus.CANCELLED  # the run stops: its next attempt never comes
            if not reason and status is BlueprintStatus.CANCELLED and self._interrupted:
                reason = self._stopped_by  # its tasks ended by the stop
            if reason:
                self._tally.reasons[event.job] = reason
            self._publish(self._plan.finish(event.job, status), event.worker, reason)
        if worker.get_status() is PyoneerStatus.ASSIGNED:
            worker.unassign()
            self._tell(worker)
            self._pool.park(worker, time.monotonic())  # lazy: it waits for the next job

    def _worker_lost(self, event: WorkerLost) -> None:
        """A worker died mid-job: hand the job to another, a bounded number of times."""
        self._waiting.pop(event.worker, None)
        worker = self._pool.remove(event.worker)
        self._tell(worker)
        self._slots.give_back(event.job)
        for attempt in self._tally.cut_short(event.job, f"{event.worker}: {event.reason}", time.time()):
            self._notify(TaskEnded(worker=event.worker, attempt=attempt, retries=0))
        lost = self._tally.lost(event.job)
        if self._interrupted:
            self._publish(self._plan.finish(event.job, BlueprintStatus.CANCELLED))
        elif lost <= MAX_REASSIGNMENTS:
            self._publish([self._plan.requeue(event.job)], reason=f"{event.worker} lost: {event.reason}")
        else:
            reason = f"{lost} workers lost while running it (last: {event.reason})"
            self._tally.reasons[event.job] = reason
            self._publish(self._plan.finish(event.job, BlueprintStatus.FAILED), reason=reason)

    def _faulted(self, event: Faulted) -> None:
        """A worker cannot go on (the machine refused its files): its job fails, the run stops."""
        self.fault = self.fault or event.error
        self._slots.give_back(event.job)
        reason = str(event.error).splitlines()[0]
        self._tally.reasons[event.job] = reason
        self._publish(self._plan.finish(event.job, BlueprintStatus.FAILED), event.worker, reason)
        if not self._interrupted:
            self._wind_down(f"the run stopped: {event.job} {reason}")

    def _retire_idle(self) -> None:
        """Let go of workers that have waited longer than ``idle_timeout``."""
        for worker in self._pool.expired(time.monotonic(), self.idle_timeout):
            self._retire(worker)

    def _retire(self, worker: Pyoneer) -> None:
        worker.stop()
        self._tell(worker)
        self._pool.remove(worker.name)

    def _release_workers(self) -> None:
        if self._pool is None:
            return
        for worker in self._pool.stop_all():
            self._tell(worker)

    def _tell(self, pyoneer: Pyoneer) -> None:
        self._notify(
            PyoneerChanged(pyoneer.name, pyoneer.role, pyoneer.get_status(), pyoneer.host, pyoneer.pid,
                           allocation=pyoneer.allocation)
        )

    def _publish(self, changes: list[Change], worker: str = "", reason: str = "") -> None:
        for name, status in changes:
            if status is BlueprintStatus.SUCCEEDED and name in self._plan.cut_off:
                self._notify(JobChanged(job=name, status=status, reason=self._plan.cut_off[name], reused=True))
                continue
            first = name == changes[0][0]
            # the worker holds the first job only: those its end made ready (or skipped) wait for one
            holder = worker if first and status is not BlueprintStatus.SKIPPED else ""
            why = reason if first else ""
            if status is BlueprintStatus.SKIPPED:
                why = self._plan.why_skipped.get(name, why)
            elif status is BlueprintStatus.CANCELLED:
                why = reason  # what stopped the run cancelled every job it had not begun
            if why and status in (BlueprintStatus.SKIPPED, BlueprintStatus.CANCELLED):
                self._tally.reasons[name] = why
            self._notify(JobChanged(job=name, status=status, worker=holder, reason=why))

    def _notify(self, event: Event) -> None:
        for observer in self.observers:
            observer.notify(event)

    def _verdict(self) -> BlueprintStatus:
        if self.fault is not None:
            return BlueprintStatus.FAILED
        if self._interrupted:
            return BlueprintStatus.CANCELLED
        statuses = self._plan.status.values()
        if all(status is BlueprintStatus.SUCCEEDED for status in statuses):
            return BlueprintStatus.SUCCEEDED
        return BlueprintStatus.FAILED
