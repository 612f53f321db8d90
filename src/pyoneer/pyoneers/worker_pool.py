"""The workers of one run: every one by name, and the idle ones waiting for a job.

A plain mutable data structure, owned by one manager for one run and then thrown away.
Workers are lazy: one that finished its job waits here, idle, to be handed the next; the
one that went idle last is handed out first (its interpreter is the warmest).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pyoneer.pyoneers.pyoneer import Pyoneer
from pyoneer.status import PyoneerStatus


class WorkerPool:
    """At most ``limit`` workers; names ``worker-1``, ``worker-2``, … never reused in a run."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: every worker of the run not let go yet, by name
        self.workers: dict[str, Pyoneer] = {}
        self._idle: dict[str, float] = {}  # name -> when it went idle (insertion = order)
        self._made = 0

    @property
    def full(self) -> bool:
        """True when no new worker may be made."""
        return len(self.workers) >= self.limit

    def new_name(self) -> str:
        """The name of the next worker to make."""
        self._made += 1
        return f"worker-{self._made}"

    def add(self, worker: Pyoneer) -> None:
        """Count a new worker in (it is handed a job at once, so it is not idle)."""
        self.workers[worker.name] = worker

    def park(self, worker: Pyoneer, now: float) -> None:
        """``worker`` finished its job: it waits, idle, from ``now``."""
        self._idle[worker.name] = now

    def take_idle(self, fits: Callable[[Pyoneer], bool], prefer: str | None = None) -> Pyoneer | None:
        """The idle worker called ``prefer`` if it ``fits``, else the one that went idle last
        among those that ``fits``; None if none does."""
        if prefer in self._idle and fits(self.workers[prefer]):
            del self._idle[prefer]
            return self.workers[prefer]
        for name in reversed(self._idle):
            worker = self.workers[name]
            if fits(worker):
                del self._idle[name]
                return worker
        return None

    def idle(self) -> list[Pyoneer]:
        """The idle workers, still idle (last gone idle first)."""
        return [self.workers[name] for name in reversed(self._idle)]

    def drain_idle(self) -> list[Pyoneer]:
        """Every idle worker, no longer idle (to be let go), last gone idle first."""
        drained = [self.workers[name] for name in reversed(self._idle)]
        self._idle.clear()
        return drained

    def expired(self, now: float, timeout: float) -> list[Pyoneer]:
        """The idle workers that have waited longer than ``timeout``, no longer idle."""
        old = [name for name, since in self._idle.items() if now - since > timeout]
        for name in old:
            del self._idle[name]
        return [self.workers[name] for name in old]

    def remove(self, name: str) -> Pyoneer:
        """Let go of the worker called ``name`` (retired or lost)."""
        self._idle.pop(name, None)
        return self.workers.pop(name)

    def not_stopped(self) -> list[Pyoneer]:
        """The workers that still have to be stopped."""
        return [worker for worker in self.workers.values() if worker.get_status() is not PyoneerStatus.STOPPED]

    def stop_all(self) -> list[Pyoneer]:
        """Stop every worker not stopped yet, side by side (each stop may wait out a grace
        period before its SIGKILL), and let the idle ones go; those it stopped."""
        working = self.not_stopped()
        stoppers = [threading.Thread(target=worker.stop) for worker in working]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self.drain_idle()
        return working
