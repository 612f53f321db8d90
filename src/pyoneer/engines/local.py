"""The local engine (the default): workers on this machine, tasks as its child processes.

Besides CPU slots it hands out this machine's GPUs (each job its own devices, in
``CUDA_VISIBLE_DEVICES``) and the custom resources declared for it (``[engine]
resources = { license = 2 }``), and refuses before the run a job that asks for more
than the machine has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyoneer.blueprints.project import Project
from pyoneer.errors import ProjectError
from pyoneer.machine.gpus import find_gpus
from pyoneer.machine.processes import Watchdog
from pyoneer.machine.streams import Relay, take_relay
from pyoneer.machine.warm import ForkServer
from pyoneer.pyoneers.context import RunContext
from pyoneer.pyoneers.engine import Capacity, Engine, Report
from pyoneer.pyoneers.pyoneer import Pyoneer
from pyoneer.pyoneers.worker import Worker


class LocalEngine(Engine):
    """Workers on this machine: each runs its tasks as child processes of this process.

    One watchdog process per engine kills the tasks' trees if this process dies first.
    A ``spare`` fork server, started early by the caller, goes to the first worker.
    ``gpus`` overrides the devices found (``--gpus 0,1``); ``resources`` declares the
    machine's custom resources (``--resource license=2``).
    """

    name = "local"

    def __init__(
        self,
        spare: ForkServer | None = None,
        gpus: Sequence[str | int] | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> None:
        self._watchdog: Watchdog | None = None
        self._relay: Relay | None = None
        self._spare = spare
        self._gpus = None if gpus is None else tuple(str(gpu) for gpu in gpus)
        self._found = "--gpus / [engine] gpus"
        self._resources = dict(resources or {})
        #: whether this run hands GPUs out: when they were named, or some job asks for one
        self._managing = gpus is not None

    def open(self, project: Project) -> None:
        """Find the GPUs (unless given), and refuse a job that asks for more than there is."""
        self._managing = self._managing or any(job.resources.gpus for job in project.jobs)
        if self._gpus is None and self._managing:
            self._gpus, self._found = find_gpus()
        for job in project.jobs:
            self._check(job.name, job.group, job.resources.gpus, dict(job.resources.custom))

    def _check(self, name: str, group: str, gpus: float, custom: dict[str, float]) -> None:
        have = len(self._gpus or ())
        if gpus > have:
            found = f"{', '.join(self._gpus)} from {self._found}" if self._gpus else f"none: {self._found}"
            raise ProjectError(
                f"job {name!r} asks for {gpus:g} GPUs, and this machine has {have} ({found})",
                key=f"jobs.{group}.resources.gpus",
                hint="give the devices with --gpus 0,1 or [engine] gpus = [0, 1], or run it on Ray",
            )
        for resource, amount in custom.items():
            declared = self._resources.get(resource, 0)
            if amount > declared:
                raise ProjectError(
                    f"job {name!r} asks for {amount:g} of {resource!r}, and this machine has {declared:g}",
                    key=f"jobs.{group}.resources.custom.{resource}",
                    hint=f"declare it: [engine] resources = {{ {resource} = {amount:g} }} or --resource {resource}={amount:g}",
                )

    def capacity(self) -> Capacity:
        """This machine's GPUs (when this run hands them out) and its declared custom resources.

        A project that asks for no GPU leaves ``CUDA_VISIBLE_DEVICES`` as it found it.
        """
        gpus = self._gpus if self._managing and self._gpus else None
        return Capacity(gpus=gpus, custom=tuple(self._resources.items()))

    def create_worker(self, name: str, context: RunContext, report: Report) -> Pyoneer:
        """A local ``Worker``."""
        if self._watchdog is None:
            self._watchdog = Watchdog()
        if self._relay is None:
            self._relay = take_relay()  # started ahead, if the command could (pyoneer.cli.launch)
        server, self._spare = self._spare, None
        return Worker(name, context, report, watchdog=self._watchdog, server=server, relay=self._relay)

    def close(self) -> None:
        """Stop the watchdog and the output relay (and the spare fork server, if no worker took it)."""
        if self._watchdog is not None:
            self._watchdog.close()
            self._watchdog = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self._spare is not None:
            self._spare.close()
            self._spare = None
