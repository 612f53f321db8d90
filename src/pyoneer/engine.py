"""Engines: where workers live. The manager reaches workers only through this interface.

An engine places workers and hands back a ``Pyoneer`` for each; the manager cannot tell
where a worker runs. ``local`` (the default) keeps workers on this machine.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from pyoneer.blueprints import Job, Project
from pyoneer.errors import UsageError
from pyoneer.machine import ForkServer, Watchdog
from pyoneer.pyoneer import Pyoneer
from pyoneer.worker import Report, Worker
from pyoneer.workspace import RunContext


class Engine(ABC):
    """Places workers somewhere and gives the manager a pyoneer to talk to for each."""

    #: the name users choose the engine by
    name: ClassVar[str]

    def open(self, project: Project) -> None:
        """Get ready to run ``project`` (connect, ship files); errors here mean nothing ran."""

    @abstractmethod
    def create_worker(self, name: str, context: RunContext, report: Report) -> Pyoneer:
        """A new, stopped worker for one run that reports to the manager through ``report``."""

    def slots(self) -> int:
        """How many CPU slots jobs share when the user does not say (``--workers``)."""
        return os.cpu_count() or 1

    def fits(self, worker: Pyoneer, job: Job) -> bool:
        """Whether an idle ``worker`` can take ``job`` (all local workers can)."""
        return True

    def close(self) -> None:
        """Let go of whatever the engine holds once the run is over."""


class LocalEngine(Engine):
    """Workers on this machine: each runs its tasks as child processes of this process.

    One watchdog process per engine kills the tasks' trees if this process dies first.
    A ``spare`` fork server, started early by the caller, goes to the first worker.
    """

    name = "local"

    def __init__(self, spare: ForkServer | None = None) -> None:
        self._watchdog: Watchdog | None = None
        self._spare = spare

    def create_worker(self, name: str, context: RunContext, report: Report) -> Pyoneer:
        """A local ``Worker``."""
        if self._watchdog is None:
            self._watchdog = Watchdog()
        server, self._spare = self._spare, None
        return Worker(name, context, report, watchdog=self._watchdog, server=server)

    def close(self) -> None:
        """Stop the watchdog (and the spare fork server, if no worker took it)."""
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        if self._spare is not None:
            self._spare.close()
            self._spare = None


ENGINE_NAMES = ("local", "ray")


def engine_named(
    name: str,
    address: str | None = None,
    announce: Callable[[str], None] | None = None,
    spare: ForkServer | None = None,
) -> Engine:
    """The engine called ``name``; an unknown name is a usage error.

    ``address`` is the Ray cluster's; ``announce`` prints what the engine does before
    the run (the size of what travels to the nodes); ``spare`` is a fork server for the
    local engine's first worker.
    """
    if name == "local":
        if address:
            raise UsageError("--address is for the Ray engine; add --engine ray")
        return LocalEngine(spare)
    if name == "ray":
        from pyoneer.ray_engine import RayEngine  # Ray is an optional extra

        return RayEngine(address=address, announce=announce)
    raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
