"""Engines: where workers live. The manager reaches workers only through this interface.

An engine places workers and hands back a ``Pyoneer`` for each; the manager cannot tell
where a worker runs. The engines themselves live in ``pyoneer.engines``: ``local`` (the
default) keeps workers on this machine, ``ray`` puts them on a Ray cluster's nodes,
``slurm`` in Slurm batch jobs.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, NamedTuple

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.events import Event
from pyoneer.pyoneers.pyoneer import Pyoneer

#: how a worker reports to its manager: one call per event, from any thread
Report = Callable[[Event], None]


class Capacity(NamedTuple):
    """What of the machine an engine lets the manager hand out itself, beside CPU slots.

    ``gpus``: the device ids jobs are given (None: the engine places GPU jobs itself, as
    Ray does); ``custom``: the amounts of custom resources (None: likewise).
    """

    gpus: tuple[str, ...] | None = None
    custom: tuple[tuple[str, float], ...] | None = None


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

    def capacity(self) -> Capacity:
        """GPUs and custom resources the manager hands out (none by default: only CPU slots)."""
        return Capacity()

    def idle_timeout(self) -> float | None:
        """Seconds an idle worker waits for a job before it is let go (None: the manager's default)."""
        return None

    def fits(self, worker: Pyoneer, job: Job) -> bool:
        """Whether an idle ``worker`` can take ``job`` (all local workers can)."""
        return True

    def close(self) -> None:
        """Let go of whatever the engine holds once the run is over."""
