"""The local engine (the default): workers on this machine, tasks as its child processes."""

from __future__ import annotations

from pyoneer.machine.processes import Watchdog
from pyoneer.machine.warm import ForkServer
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.engine import Engine, Report
from pyoneer.pyoneers.pyoneer import Pyoneer
from pyoneer.pyoneers.worker import Worker


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
