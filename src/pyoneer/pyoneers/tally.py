"""What happened to each job of one run so far: its attempts, its worker, its losses.

A plain mutable data structure, owned by one manager for one run and then thrown away;
the run's ``JobResult`` records are made from it when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from pyoneer.pyoneers.events import Attempt
from pyoneer.pyoneers.results import JobResult
from pyoneer.status import BlueprintStatus


class Tally:
    """For each job: the attempts of its tasks, who held it, how often its worker was lost."""

    def __init__(self, jobs: Iterable[str]) -> None:
        self.attempts: dict[str, list[Attempt]] = {name: [] for name in jobs}
        #: the attempts started and not yet ended, by job, then task
        self.running: dict[str, dict[str, Attempt]] = {}
        #: the highest attempt number started of each task, by job
        self.numbered: dict[str, dict[str, int]] = {}
        self.holders: dict[str, str] = {}
        self.losses: dict[str, int] = {}
        #: why a job failed when no attempt says (no node can host it, workers lost)
        self.reasons: dict[str, str] = {}

    def began(self, attempt: Attempt) -> None:
        """An attempt of one of the job's tasks started."""
        self.running.setdefault(attempt.job, {})[attempt.task] = attempt
        numbers = self.numbered.setdefault(attempt.job, {})
        numbers[attempt.task] = max(numbers.get(attempt.task, 0), attempt.number)

    def attempted(self, attempt: Attempt) -> None:
        """An attempt of one of the job's tasks ended."""
        self.attempts[attempt.job].append(attempt)
        self.running.get(attempt.job, {}).pop(attempt.task, None)

    def cut_short(self, job: str, why: str, at: float) -> list[Attempt]:
        """The worker running ``job`` was lost: its running attempts end, cancelled, saying why."""
        ended = [replace(attempt, ended=at, cancelled=True, lost=why)
                 for attempt in self.running.pop(job, {}).values()]
        self.attempts[job].extend(ended)
        return ended

    def earlier(self, job: str) -> dict[str, int]:
        """How many attempts of each of ``job``'s tasks were made already (by lost workers):
        the next is numbered after them, so that every attempt keeps its row and its log."""
        return dict(self.numbered.get(job, {}))

    def lost(self, job: str) -> int:
        """The worker running ``job`` was lost: how many times that has happened to it."""
        self.losses[job] = self.losses.get(job, 0) + 1
        return self.losses[job]

    def results(
        self, status: Mapping[str, BlueprintStatus], reused: frozenset[str], why: Mapping[str, str] | None = None
    ) -> tuple[JobResult, ...]:
        """Each job's result, in project order, given how each ended (``status``) and why
        it ran or was reused (``why``)."""
        why = why or {}
        return tuple(
            JobResult(
                name=name,
                status=status[name],
                attempts=tuple(attempts),
                worker=self.holders.get(name, ""),
                reused=name in reused,
                reason=self.reasons.get(name, ""),
                why=why.get(name, ""),
            )
            for name, attempts in self.attempts.items()
        )
