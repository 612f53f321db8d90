"""The project: jobs plus the dependencies between them, rooted in a directory.

Blueprints (``Task``, ``Job``, ``Project``) are what to run, never how it went: immutable,
hashable values with a ``kind`` and no status (status exists only in the pyoneer working
on one, see ``pyoneer.status``). Each is validated when it is built, so a bad project can
never start; errors are ``ProjectError`` with the key path of the bad value
(``jobs.load.tasks[0].timeout``).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from pyoneer.blueprints.checks import (
    check_env,
    check_flag,
    check_keys,
    check_script,
    check_strings,
    did_you_mean,
    type_name,
)
from pyoneer.blueprints.job import Job
from pyoneer.blueprints.kind import Kind
from pyoneer.errors import ProjectError


@dataclass(frozen=True)
class Environment:
    """What every task of a project needs around it, wherever it runs.

    ``env`` is added to every task's environment (a task's own ``env`` wins).
    ``requirements`` (a file, relative to the project root) and ``packages`` are
    installed on the nodes by the Ray and Slurm engines; locally, this Python is used as it is.
    """

    requirements: str | None = None
    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def wanted_packages(self, root: Path) -> list[str]:
        """What a cluster's nodes install: the requirements file's lines (blanks and
        comments left out), then ``packages``; ``root`` is the project's."""
        lines: list[str] = []
        if self.requirements:
            text = (root / self.requirements).read_text()
            lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        return lines + list(self.packages)

    def __post_init__(self) -> None:
        if self.requirements is not None:
            object.__setattr__(self, "requirements", check_script(self.requirements, "requirements"))
        object.__setattr__(self, "packages", check_strings(self.packages, "packages"))
        object.__setattr__(self, "env", check_env(self.env, "env"))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Environment:
        """An environment from the ``[environment]`` table; unknown keys are refused."""
        try:
            check_keys(table, [f.name for f in fields(cls)])
            return cls(**table)
        except ProjectError as exc:
            raise exc.within("environment") from None


@dataclass(frozen=True)
class Project:
    """Jobs plus the dependencies between them (a DAG), rooted in a directory.

    ``needs`` maps a job name to the names of the jobs that must succeed before it (a
    dict is accepted and stored as sorted pairs, to stay hashable). Scripts are checked to exist under ``root`` when the project is built.
    """

    kind: ClassVar[Kind] = Kind.PROJECT

    name: str
    jobs: tuple[Job, ...]
    needs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Path = field(default_factory=Path.cwd)
    environment: Environment = field(default_factory=Environment)
    #: run every task in a fresh interpreter
    fresh: bool = False
    #: modules every warm interpreter imports once, before it forks the tasks
    preload: tuple[str, ...] = ()
    #: whether warm interpreters also preload what the tasks imported last time
    #: (``preload = false`` turns that off, for every job)
    learn: bool = field(default=True, compare=False)
    # derived from ``jobs``: an index, not part of the value
    _by_name: dict[str, Job] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProjectError(f"must be a non-empty string, got {self.name!r}", key="project.name")
        object.__setattr__(self, "root", Path(self.root).resolve())
        if isinstance(self.environment, Mapping):
            object.__setattr__(self, "environment", Environment.from_mapping(self.environment))
        if not isinstance(self.environment, Environment):
            raise ProjectError(f"must be a table, got {type_name(self.environment)}", key="environment")
        check_flag(self.fresh, "project.fresh")
        object.__setattr__(self, "preload", check_strings(self.preload, "project.preload"))
        object.__setattr__(self, "jobs", self._checked_jobs())
        object.__setattr__(self, "_by_name", {job.name: job for job in self.jobs})
        object.__setattr__(self, "needs", self._checked_needs())
        self._check_acyclic()
        self._check_scripts()
        requirements = self.environment.requirements
        if requirements is not None and not (self.root / requirements).is_file():
            raise ProjectError(
                f"{requirements!r} does not exist (looked in {self.root})", key="environment.requirements"
            )

    def _checked_jobs(self) -> tuple[Job, ...]:
        if isinstance(self.jobs, (str, Job)) or not isinstance(self.jobs, Iterable):
            raise ProjectError(f"must be a list of jobs, got {type_name(self.jobs)}", key="jobs")
        jobs = tuple(self.jobs)
        seen: set[str] = set()
        for index, job in enumerate(jobs):
            if not isinstance(job, Job):
                raise ProjectError(f"must be a Job, got {type_name(job)}", key=f"jobs[{index}]")
            if job.name in seen:
                raise ProjectError(f"two jobs are named {job.name!r}", key=f"jobs.{job.name}")
            seen.add(job.name)
        if not jobs:
            raise ProjectError(
                "a project needs at least one job", key="jobs", hint='e.g. [jobs.main] tasks = ["main.py"]'
            )
        return jobs

    def _checked_needs(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        needs = dict(self.needs)
        names = [job.name for job in self.jobs]
        known = set(names)
        for name, upstream in needs.items():
            if name not in known:
                raise ProjectError(f"needs of unknown job {name!r}", key=f"jobs.{name}.needs")
            upstream = check_strings(upstream, f"jobs.{name}.needs")
            for index, other in enumerate(upstream):
                if other not in known:
                    raise ProjectError(
                        f"unknown job {other!r}",
                        key=f"jobs.{name}.needs[{index}]",
                        hint=did_you_mean(other, names) or f"known jobs: {', '.join(names)}",
                    )
            needs[name] = tuple(dict.fromkeys(upstream))
        return tuple((name, needs[name]) for name in names if needs.get(name))

    def _check_acyclic(self) -> None:
        try:
            tuple(graphlib.TopologicalSorter(self.dependencies).static_order())
        except graphlib.CycleError as exc:
            # graphlib gives the cycle as [a, b, ..., a], each node a dependency of the
            # next: run order, so "x -> y" reads "x runs before y".
            cycle = list(exc.args[1])
            raise ProjectError(
                "dependency cycle: " + " -> ".join(cycle),
                key=f"jobs.{cycle[0]}.needs",
                hint="a job cannot wait, directly or not, for itself",
            ) from None

    def _check_scripts(self) -> None:
        for job in self.jobs:
            for index, task in enumerate(job.tasks):
                path = self.root / task.script
                if not path.is_file():
                    state = "is a directory" if path.is_dir() else "does not exist"
                    raise ProjectError(
                        f"script {task.script!r} {state} (looked in {self.root})",
                        key=f"jobs.{job.name}.tasks[{index}].script",
                    )

    @property
    def dependencies(self) -> dict[str, tuple[str, ...]]:
        """Each job's name mapped to the jobs it needs (empty tuple for none)."""
        needs = dict(self.needs)
        return {job.name: needs.get(job.name, ()) for job in self.jobs}

    def job(self, name: str) -> Job:
        """The job called ``name`` (``KeyError`` if there is none)."""
        return self._by_name[name]

    def layers(self) -> list[list[str]]:
        """Job names in run order: each layer needs only jobs of earlier layers."""
        order = {job.name: index for index, job in enumerate(self.jobs)}
        sorter = graphlib.TopologicalSorter(self.dependencies)
        sorter.prepare()
        layers = []
        while sorter.is_active():
            layer = sorted(sorter.get_ready(), key=order.__getitem__)
            layers.append(layer)
            sorter.done(*layer)
        return layers
