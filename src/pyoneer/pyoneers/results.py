"""What happened in a run: one record per job, one per attempt, and the verdict.

Kept apart from the blueprints (what to run) and the pyoneers (who runs it); these are
plain immutable values, built once the run has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyoneer.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from pyoneer.pyoneers.events import Attempt
from pyoneer.status import BlueprintStatus


@dataclass(frozen=True)
class JobResult:
    """How one job of a run ended, with every attempt of its tasks."""

    name: str
    status: BlueprintStatus
    attempts: tuple[Attempt, ...] = ()
    worker: str = ""
    #: it succeeded in an earlier run with the same fingerprint and was not run again
    reused: bool = False
    #: why it failed when no attempt says (no node can host it, workers lost)
    reason: str = ""
    #: why it ran or was reused, when ``--resume`` or a target decided (``script x.py changed``)
    why: str = ""

    @property
    def group(self) -> str:
        """The job as written: a matrix member's name without its values (``train``)."""
        return self.name.partition("[")[0]

    @property
    def started(self) -> float | None:
        """When its first attempt started (``None`` if it never ran)."""
        return self.attempts[0].started if self.attempts else None

    @property
    def ended(self) -> float | None:
        """When its last attempt ended (``None`` if it never ran)."""
        return self.attempts[-1].ended if self.attempts else None

    @property
    def duration(self) -> float | None:
        """Seconds from its first start to its last end (``None`` if it never ran)."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    @property
    def tries(self) -> int:
        """The most attempts any one of its tasks needed (0 if it never ran)."""
        return max((attempt.number for attempt in self.attempts), default=0)

    @property
    def failure(self) -> Attempt | None:
        """The attempt that made the job fail, if it failed."""
        if self.status is not BlueprintStatus.FAILED or not self.attempts or self.reason:
            return None
        return self.attempts[-1]


@dataclass(frozen=True)
class RunResult:
    """How a run of a project ended."""

    run_id: str
    project: str
    root: Path
    jobs: tuple[JobResult, ...]
    started: float
    ended: float
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every job succeeded."""
        return not self.interrupted and all(
            job.status is BlueprintStatus.SUCCEEDED for job in self.jobs
        )

    @property
    def exit_code(self) -> int:
        """0 every job succeeded, 1 some job did not, 130 the run was interrupted."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.ok else EXIT_FAILED

    def job(self, name: str) -> JobResult:
        """The result of the job called ``name``."""
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    @property
    def statuses(self) -> dict[str, BlueprintStatus]:
        """Each job's name mapped to how it ended."""
        return {job.name: job.status for job in self.jobs}
