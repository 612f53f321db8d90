"""The manager's side of a Slurm worker: a batch job that takes job after job.

``SlurmWorker`` is a pyoneer like any other to the manager. Handed its first job, it
asks its engine for an allocation sized to that job (one ``sbatch``), and orders the
job through its mailbox; its node side (``node.py``) runs it and tells each event
back. Being lazy, it keeps the allocation between jobs, so a sweep of hundreds of short
members queues a handful of times. It learns that Slurm ended it under a job (a node
failure, preemption, its walltime, a ``scancel``) from its own last word or from the
engine's one ``squeue`` for the whole run, and reports itself lost with Slurm's reason.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from pyoneer.blueprints.job import Job, Resources
from pyoneer.engines.slurm.commands import JobState
from pyoneer.engines.slurm.mailbox import LOOK_EVERY, Mailbox, Pace
from pyoneer.errors import EXIT_FAILED, ClusterError
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.engine import Report
from pyoneer.pyoneers.events import Faulted, JobEnded, PyoneerChanged, Queued, TaskEnded, TaskStarted, WorkerLost
from pyoneer.pyoneers.wire import event_from_wire
from pyoneer.pyoneers.worker import BaseWorker
from pyoneer.status import BlueprintStatus, PyoneerStatus

#: seconds a stopping worker's node gets to end its tasks and say bye before it is cancelled
STOP_WAIT = 10.0
#: seconds to wait for Slurm to say why a worker's node side ended, before saying it ourselves
REASON_WAIT = 10.0


@dataclass
class Allocation:
    """A worker's batch job: what it was asked with, and since when it runs (plain data)."""

    #: the Slurm job id
    id: str
    #: the Slurm settings it was asked with (a job with other settings needs another worker)
    placement: tuple[tuple[str, Any], ...]
    #: the resources it holds
    size: Resources
    #: its walltime in seconds (None: the partition's, unknown here)
    limit: int | None
    #: when its node side said hello (its clock); None while it waits in the queue
    started: float | None = None

    def time_left(self, now: float) -> float | None:
        """Seconds of walltime left (None: unknown)."""
        if self.limit is None:
            return None
        return self.limit - (now - self.started if self.started is not None else 0.0)


class SlurmWorker(BaseWorker):
    """A worker whose node side lives in a Slurm batch job, made when its first job comes."""

    def __init__(self, name: str, context: RunContext, report: Report, engine: Any) -> None:
        """``engine``: the ``SlurmEngine`` that queues its allocation and watches the queue."""
        super().__init__(name, context, report)
        self.pid = None
        self.host = ""
        #: the batch job this worker lives in (None until its first job)
        self.place: Allocation | None = None
        self._engine = engine
        self._box = Mailbox.of_manager(engine.worker_dir(name))
        self._said_hello = False
        self._bye: str | None = None
        #: its job was given back while it waited in the queue: it only awaits stop
        self._withdrawn = False
        #: the order for its first job, sent when its node side says hello
        self._order: dict[str, Any] | None = None

    # BaseWorker ---------------------------------------------------------------------

    def _work(self, job: Job) -> None:
        with self._guard:
            stopping, placed = self._stopping, self.place is not None
        if not stopping and not placed:
            placed = self._queue_for(job)  # sbatch: not while holding the guard
            if not placed:
                return
        with self._guard:
            if self._stopping:
                self._end(job, BlueprintStatus.CANCELLED)
                return
            order = {"job": job.name, "earlier": self._earlier}
            if self._resume is not None:  # it goes on after a wait for a retry, from there
                order["resume"] = asdict(self._resume)
            if self._said_hello:
                self._box.send(order)
            else:
                # ordered once it is placed: until then its job may still be given back
                self._order = order
        self._follow(job)

    def _queue_for(self, job: Job) -> bool:
        """Queue this worker's batch job, sized to ``job``; False if Slurm refused (told)."""
        self._box.open()
        try:
            place = self._engine.allocate(self.name, job)
        except ClusterError as exc:  # a limit of the cluster (jobs per user...): the run stops, saying so
            error = ClusterError(f"cannot queue {self.name} for job {job.name!r}: {exc}\n"
                                 "  hint: fewer workers at once ([engine.slurm] max_workers, --workers)")
            error.exit_code = EXIT_FAILED
            self._report(Faulted(self.name, job.name, error))
            return False
        with self._guard:
            self.place, self.allocation = place, place.id  # stop() from now on cancels it
        self._tell_where()
        return True

    def withdraw(self) -> bool:
        """Give the job back while this worker still waits in the queue (its allocation is
        cancelled: the job goes to an idle worker of the run instead)."""
        with self._guard:
            if self._said_hello or self.place is None or self._stopping or self._withdrawn:
                return False
            self._withdrawn = True
            place = self.place
        self._engine.release(place.id)
        return True

    def _cancel(self) -> None:
        """Order the node side to stop; a worker still in the queue is cancelled at once."""
        with self._guard:
            place = self.place
        if place is None:
            return
        self._box.send({"stop": True})
        if not self._said_hello:
            self._engine.slurm.cancel([place.id])

    def _let_go(self) -> None:
        """Wait (a little) for the node side's bye, then make sure its allocation is gone."""
        place = self.place
        if place is None:
            return
        deadline = time.monotonic() + STOP_WAIT
        while self._said_hello and self._bye is None and time.monotonic() < deadline:
            if self._engine.ended(place.id) is not None:
                break
            self._hear_between_jobs()
            time.sleep(LOOK_EVERY)
        self._engine.release(place.id)

    # Following a job ------------------------------------------------------------------

    def _follow(self, job: Job) -> None:
        waiting = None
        stopped_at = None
        pace = Pace()
        pace.hurry()  # the order is out: a short job's end comes soon
        while True:
            if self._withdrawn:
                return  # its job was handed to another worker: nothing of it is told
            heard = self._box.receive()
            if heard:
                pace.hurry()
            if self._hear(job, heard):
                return
            place = self.place
            if self._stopping:
                stopped_at = stopped_at or time.monotonic()
                if self._bye is not None or not self._said_hello or time.monotonic() - stopped_at > STOP_WAIT:
                    self._end(job, BlueprintStatus.CANCELLED)
                    return
            elif self._bye is not None or self._engine.ended(place.id) is not None:
                self._lost(job, place)
                return
            elif not self._said_hello:
                state = self._engine.state(place.id)
                reason = state.reason if state is not None and state.state == "PENDING" else ""
                if state is not None and reason != waiting:
                    waiting = reason
                    self._report(Queued(self.name, job.name, reason))
            time.sleep(pace.next())

    def _hear(self, job: Job, messages: list[dict[str, Any]]) -> bool:
        """Pass on what the node side told; True once the job has ended."""
        for message in messages:
            if "hello" in message:
                self._hello(message["hello"], job)
                continue
            if self._withdrawn:
                return False
            if "bye" in message:
                self._bye = message["bye"]
                continue
            event = event_from_wire(message, self._context.project.root)
            if isinstance(event, JobEnded):
                self._end(job, event.status, event.reason, event.resume)
                return True
            if isinstance(event, Faulted):
                self._report(event)
                return True
            if isinstance(event, (TaskStarted, TaskEnded)):
                self._report(event)
        return False

    def _hear_between_jobs(self) -> None:
        for message in self._box.receive():
            if "bye" in message:
                self._bye = message["bye"]

    def _hello(self, hello: dict[str, Any], job: Job) -> None:
        with self._guard:
            if self._withdrawn:
                return  # placed just as its job was given back: cancelled already
            first = not self._said_hello
            self._said_hello = True
            self.host, self.pid = hello.get("node", ""), hello.get("pid")
            self.place = replace(self.place, started=hello.get("started") or time.time())
            if self._order is not None:
                self._box.send(self._order)
                self._order = None
        if first:
            self._report(Queued(self.name, job.name, ""))
            self._tell_where()

    def _tell_where(self) -> None:
        self._report(PyoneerChanged(self.name, self.role, self.get_status(), self.host, self.pid,
                                    allocation=self.allocation))

    def _lost(self, job: Job, place: Allocation) -> None:
        """The node side is gone under ``job``: lost (the job moves), or a worker that
        never started (the run stops: the nodes cannot run Pyoneer or see the project)."""
        deadline = time.monotonic() + REASON_WAIT
        state = self._engine.ended(place.id)
        while state is None and time.monotonic() < deadline:
            time.sleep(LOOK_EVERY)
            state = self._engine.ended(place.id)
        self._box.send({"stop": True})  # in case it lives on where Slurm lost sight of it
        self._engine.release(place.id)
        if not self._said_hello and state is not None and state.state in ("FAILED", "COMPLETED"):
            error = ClusterError(self._engine.cannot_start(self.name, place, state))
            error.exit_code = EXIT_FAILED
            self._report(Faulted(self.name, job.name, error))
            return
        with self._guard:
            self._become(PyoneerStatus.LOST)
        self._report(WorkerLost(worker=self.name, job=job.name, reason=_why_ended(place, state, self.host, self._bye)))


def _why_ended(place: Allocation, state: JobState | None, host: str, bye: str | None) -> str:
    """Why Slurm ended a worker, in words, with Slurm's own state."""
    where = f"Slurm job {place.id}" + (f" on {state.node or host}" if state is not None and (state.node or host) else "")
    if state is None:
        return f"{where}: {bye or 'Slurm no longer knows it'}"
    words = {
        "NODE_FAIL": "its node failed",
        "PREEMPTED": "preempted",
        "TIMEOUT": "its walltime ran out",
        "CANCELLED": "cancelled (scancel)",
        "OUT_OF_MEMORY": "it ran out of memory",
        "BOOT_FAIL": "its node failed to boot",
        "DEADLINE": "its deadline passed",
        "MISSING": "Slurm no longer knows it",
    }.get(state.state, "it ended")
    said = f", {state.reason}" if state.reason and state.reason != "None" else ""
    return f"{where}: {words} ({state.state}{said})"
