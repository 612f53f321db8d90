"""The plan of one run: which job may start, which waits, which will never run.

A plain mutable data structure owned by one manager for one run, then thrown away (the
seed's "data structures are not thread safe and not reusable"). Every operation costs
time in proportion to the jobs it touches, not to the size of the project.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pyoneer.blueprints.project import Project
from pyoneer.status import BlueprintStatus, advance

Change = tuple[str, BlueprintStatus]


class Plan:
    """The status of every job of a project during one run, as the manager sees it."""

    def __init__(
        self, project: Project, reused: frozenset[str] = frozenset(),
        reusable: Callable[[str], str | None] | None = None,
    ) -> None:
        """``reused`` jobs succeeded in an earlier run: they start out succeeded.

        ``reusable`` is asked of each job whose last needed job has just succeeded: a
        reason means it is reused after all (early cutoff), and is kept in ``cut_off``.
        """
        self._reusable = reusable
        #: the jobs reused during the run, and why
        self.cut_off: dict[str, str] = {}
        dependencies = project.dependencies
        self.status: dict[str, BlueprintStatus] = {}
        self._waiting_on: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {name: [] for name in dependencies}
        self._ready: deque[str] = deque()
        #: ready jobs that wait, unqueued, for a time (a retry's delay): name -> when
        self._resting: dict[str, float] = {}
        #: why each skipped job was skipped: the job it needed and how that one ended
        self.why_skipped: dict[str, str] = {}
        for name, upstream in dependencies.items():
            self._waiting_on[name] = len(upstream)
            for other in upstream:
                self._dependents[other].append(name)
            self.status[name] = BlueprintStatus.NOT_READY
        self._unfinished = len(dependencies)
        for name in dependencies:
            if name in reused:
                self.status[name] = BlueprintStatus.SUCCEEDED
                self._unfinished -= 1
        for name in dependencies:
            if name in reused:
                for dependent in self._dependents[name]:
                    self._waiting_on[dependent] -= 1

    def open(self) -> list[Change]:
        """Mark the jobs that need nothing as ready; the changes, in project order."""
        return [
            self._make_ready(name)
            for name, count in self._waiting_on.items()
            if count == 0 and self.status[name] is BlueprintStatus.NOT_READY
        ]

    @property
    def finished(self) -> bool:
        """True when every job has a final status."""
        return self._unfinished == 0

    def next_ready(self) -> str | None:
        """The ready job that has waited longest, without taking it; ``None`` if none."""
        return self._ready[0] if self._ready else None

    def start(self, name: str) -> Change:
        """Take the next ready job (``name``) and mark it running."""
        if not self._ready or self._ready[0] != name:
            raise ValueError(f"{name!r} is not the next ready job")
        self._ready.popleft()
        return self._set(name, BlueprintStatus.RUNNING)

    def requeue(self, name: str) -> Change:
        """Put a running job whose worker was lost back at the head of the ready queue."""
        self._ready.appendleft(name)
        return self._set(name, BlueprintStatus.READY)

    def rest(self, name: str, until: float) -> Change:
        """A running job was handed back to wait for a retry: it is ready again, but
        queued only once ``until`` has come (``wake``)."""
        self._resting[name] = until
        return self._set(name, BlueprintStatus.READY)

    def wake(self, now: float) -> list[str]:
        """Queue the resting jobs whose time has come, at the head (they started before
        the jobs queued since), the earliest due first; their names."""
        due = sorted((until, name) for name, until in self._resting.items() if until <= now)
        for _, name in reversed(due):
            del self._resting[name]
            self._ready.appendleft(name)
        return [name for _, name in due]

    def next_wake(self) -> float | None:
        """When the first resting job is due (``None`` if none rests)."""
        return min(self._resting.values(), default=None)

    def finish(self, name: str, status: BlueprintStatus) -> list[Change]:
        """Record that a running job ended with ``status``; every change that follows."""
        changes = [self._set(name, status)]
        if status is BlueprintStatus.SUCCEEDED:
            succeeded = [name]
            while succeeded:
                for dependent in self._dependents[succeeded.pop()]:
                    self._waiting_on[dependent] -= 1
                    # a dependent cancelled meanwhile (the run is stopping) stays cancelled
                    if self._waiting_on[dependent] == 0 and self.status[dependent] is BlueprintStatus.NOT_READY:
                        why = self._reusable(dependent) if self._reusable is not None else None
                        if why is None:
                            changes.append(self._make_ready(dependent))
                            continue
                        # reused, as a job reused from the start is: its dependents in turn
                        self.status[dependent] = BlueprintStatus.SUCCEEDED
                        self._unfinished -= 1
                        self.cut_off[dependent] = why
                        changes.append((dependent, BlueprintStatus.SUCCEEDED))
                        succeeded.append(dependent)
        else:
            changes.extend(self._skip_downstream(name))
        return changes

    def cancel_rest(self) -> list[Change]:
        """Cancel every job that has not started (or rests); the changes."""
        self._ready.clear()
        self._resting.clear()
        return [
            self._set(name, BlueprintStatus.CANCELLED)
            for name, status in self.status.items()
            if status in (BlueprintStatus.NOT_READY, BlueprintStatus.READY)
        ]

    def _skip_downstream(self, name: str) -> list[Change]:
        ended = self.status[name].value
        changes, stack = [], [(dependent, name) for dependent in self._dependents[name]]
        while stack:
            dependent, needed = stack.pop()
            if self.status[dependent] is BlueprintStatus.NOT_READY:
                changes.append(self._set(dependent, BlueprintStatus.SKIPPED))
                self.why_skipped[dependent] = (
                    f"needs {needed}, which {ended}" if needed == name
                    else f"needs {needed}, which was skipped ({name} {ended})"
                )
                stack.extend((further, dependent) for further in self._dependents[dependent])
        return changes

    def _make_ready(self, name: str) -> Change:
        self._ready.append(name)
        return self._set(name, BlueprintStatus.READY)

    def _set(self, name: str, status: BlueprintStatus) -> Change:
        self.status[name] = advance(self.status[name], status)
        if status.is_final:
            self._unfinished -= 1
        return name, status
