"""What pyoneers tell each other: small immutable reports, in the order things happen.

Workers report to their manager (``TaskStarted``, ``TaskEnded``, ``JobEnded``, ``Queued``
while a cluster has not placed them yet, and
``WorkerLost`` or ``Faulted`` when they cannot go on); the
manager passes every report on to its observers (the terminal view, the ledger) together
with its own: ``RunStarted``, ``JobChanged`` for each change of a job's status,
``PyoneerChanged`` for each change of a pyoneer's, ``Interrupted`` and ``RunEnded``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pyoneer.errors import PyoneerError
from pyoneer.status import BlueprintStatus, PyoneerStatus, RunState

if TYPE_CHECKING:
    from pyoneer.blueprints.project import Project


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class Attempt:
    """What happened to one attempt of one task."""

    job: str
    task: str
    number: int
    log: Path
    started: float
    ended: float | None = None
    #: the process's exit code; negative for a signal; None if it never ended by itself
    exit_code: int | None = None
    timed_out_after: float | None = None
    cancelled: bool = False
    #: the project's modules a warm task imported, as it listed them (paths under the root)
    imports: tuple[str, ...] = ()
    #: the modules from outside the project a warm task imported, in the order first
    #: imported, with what each import cost (microseconds): the next run's preload
    learned: tuple[tuple[str, int], ...] = ()
    #: learned modules its fork server did not preload, and why (a thread, a socket...)
    refused: tuple[tuple[str, str], ...] = ()
    #: why its worker was lost while it ran (the attempt then counts as cancelled)
    lost: str = ""

    @property
    def ok(self) -> bool:
        """True when the attempt exited 0 within its time."""
        return self.exit_code == 0 and self.timed_out_after is None and not self.cancelled

    @property
    def reason(self) -> str:
        """Why the attempt failed, in words (``""`` when it did not)."""
        if self.lost:
            return f"worker lost ({self.lost})"
        if self.cancelled:
            return "cancelled"
        if self.timed_out_after is not None:
            return f"timed out after {self.timed_out_after:g} s"
        if self.exit_code is not None and self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        if self.exit_code:
            return f"exit code {self.exit_code}"
        return ""

    @property
    def duration(self) -> float:
        """Seconds from start to end (to now, while running)."""
        return (self.ended or _now()) - self.started


@dataclass(frozen=True, eq=False)  # reports, told once: no value equality to generate
class TaskStarted:
    """A worker started an attempt of a task."""

    worker: str
    attempt: Attempt
    retries: int
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class TaskEnded:
    """An attempt of a task ended (well or not); ``retry_in``: seconds until the next
    attempt starts, when it failed and its task waits before retrying (``retry_delay``)."""

    worker: str
    attempt: Attempt
    retries: int
    at: float = field(default_factory=_now)
    retry_in: float = 0.0


@dataclass(frozen=True)
class Resume:
    """Where a job handed back to wait for a retry goes on: the next attempt of its task
    ``task``, numbered ``number``, not before ``at`` (seconds since the epoch), the task
    allowed attempts up to ``last``. Made by the worker that handed it back, kept by the
    manager while the job waits (holding no worker and no slot), and given with the job
    to the worker that takes it up."""

    task: str
    number: int
    last: int
    at: float


@dataclass(frozen=True, eq=False)
class JobEnded:
    """A worker finished its job; it now waits, assigned, to be unassigned.

    ``reason`` says why a job failed without any attempt (e.g. no node can host it).
    ``resume``: the job has not ended but waits to retry a task (``retry_delay``), and
    its worker hands it back so that the wait holds no slot; ``status`` is then ``ready``.
    """

    worker: str
    job: str
    status: BlueprintStatus
    reason: str = ""
    at: float = field(default_factory=_now)
    resume: Resume | None = None


@dataclass(frozen=True, eq=False)
class WorkerLost:
    """The manager's side lost touch with a worker (its process or node died) mid-job."""

    worker: str
    job: str
    reason: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class Queued:
    """A worker's job waits for the worker's place on the cluster (a Slurm allocation in
    the queue): ``reason`` is the scheduler's (``Priority``, ``Resources``); ``""`` once
    the place is granted and the job goes on."""

    worker: str
    job: str
    reason: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class Faulted:
    """A worker could not go on with its job: the machine refused (a ``MachineError``:
    its log cannot be written), or the worker itself broke. The run stops on it."""

    worker: str
    job: str
    error: PyoneerError
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class JobChanged:
    """The manager saw a job's status change (``worker`` is empty if none holds it).

    ``reused`` marks a job that succeeded in an earlier run and is not run again.
    """

    job: str
    status: BlueprintStatus
    worker: str = ""
    reused: bool = False
    reason: str = ""
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class PyoneerChanged:
    """A pyoneer's own status changed (as its manager saw it)."""

    pyoneer: str
    role: str
    status: PyoneerStatus
    host: str
    pid: int | None = None
    at: float = field(default_factory=_now)
    #: the engine's handle on the worker's place on the cluster (a Slurm job id), if any
    allocation: str = ""


@dataclass(frozen=True, eq=False)
class RunStarted:
    """A manager began a run of a project."""

    run_id: str
    project: Project
    reused: frozenset[str] = frozenset()
    #: why a job runs or is reused, for the jobs a --resume or a target decided
    why: Mapping[str, str] = field(default_factory=dict)
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class RunEnded:
    """A run ended: ``result`` is succeeded, failed or interrupted."""

    run_id: str
    result: RunState
    status: BlueprintStatus
    at: float = field(default_factory=_now)


@dataclass(frozen=True, eq=False)
class Interrupted:
    """The run was asked to stop (Ctrl-C, SIGTERM); ``kill``: asked again, its tasks are
    killed now rather than given their grace period."""

    reason: str = "interrupted"
    kill: bool = False
    at: float = field(default_factory=_now)


Event = (
    TaskStarted
    | TaskEnded
    | JobEnded
    | Queued
    | WorkerLost
    | Faulted
    | JobChanged
    | PyoneerChanged
    | RunStarted
    | RunEnded
    | Interrupted
)


class Observer(Protocol):
    """Anything that wants to follow a run: it is told every event, in order."""

    def notify(self, event: Event) -> None:
        """Take note of ``event``; must not block for long."""

    def settle(self) -> None:
        """The manager ends a step (it is about to wait): finish what ``notify`` began."""
