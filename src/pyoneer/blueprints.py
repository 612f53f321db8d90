"""Blueprints: ``Task``, ``Job``, ``Project`` — what to run, never how it went.

A blueprint is an immutable, hashable value. It has a ``kind`` and no status: status
exists only in the pyoneer working on it (see ``pyoneer.status``). Each blueprint is
validated when it is built, so a bad project can never start; errors are
``ProjectError`` with the key path of the bad value (``jobs.load.tasks[0].timeout``).
"""

from __future__ import annotations

import contextlib
import graphlib
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pyoneer.errors import ProjectError, check_keys, did_you_mean

if TYPE_CHECKING:
    from pyoneer.manager import RunResult

#: Names of jobs and tasks appear in paths and on the command line (``logs JOB/TASK``).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class Kind(str, Enum):
    """The type of a blueprint; every blueprint has exactly one."""

    #: one Python script
    TASK = "task"
    #: related tasks that run in order on one machine
    JOB = "job"
    #: jobs plus the dependencies between them
    PROJECT = "project"


def _is_positive(value: object) -> bool:
    # "not > 0" rather than "<= 0", so NaN is refused too
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _type_name(value: object) -> str:
    return type(value).__name__


def _check_name(value: object, key: str, what: str) -> str:
    if not isinstance(value, str):
        raise ProjectError(f"{what} name must be a string, got {_type_name(value)}", key=key)
    if not _NAME.match(value):
        raise ProjectError(
            f"{what} name {value!r} is not valid",
            key=key,
            hint="use letters, digits, '_', '-' and '.', starting with a letter or digit",
        )
    return value


def _check_strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ProjectError(f"must be a list of strings, got {_type_name(value)}", key=key)
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ProjectError(
                f"must be a string, got {_type_name(item)} {item!r}",
                key=f"{key}[{index}]",
                hint='quote it, e.g. "3"',
            )
    return items


def _check_env(value: object, key: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, tuple):
        with contextlib.suppress(TypeError, ValueError):
            value = dict(value)  # the stored form: pairs
    if not isinstance(value, Mapping):
        raise ProjectError(f"must be a table of strings, got {_type_name(value)}", key=key)
    for name, setting in value.items():
        if not isinstance(name, str) or not isinstance(setting, str):
            raise ProjectError(
                f"must be a string, got {_type_name(setting)} {setting!r}",
                key=f"{key}.{name}",
                hint='quote it, e.g. "1"',
            )
    return tuple(sorted(value.items()))


@dataclass(frozen=True)
class Task:
    """One Python script: its path (relative to the project root), args, env and limits.

    ``timeout`` is in seconds (``None``: no limit); ``retries`` is how many times a
    failed attempt is tried again. ``env`` is stored as sorted pairs so a task stays
    hashable; ``environment`` gives it back as a dict.
    """

    kind: ClassVar[Kind] = Kind.TASK

    script: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    retries: int = 0
    name: str | None = None
    #: run in a fresh interpreter rather than a warm fork (see the README)
    fresh: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "script", _check_script(self.script))
        _check_flag(self.fresh, "fresh")
        object.__setattr__(self, "args", _check_strings(self.args, "args"))
        object.__setattr__(self, "env", _check_env(self.env, "env"))
        if self.timeout is not None and not _is_positive(self.timeout):
            raise ProjectError(
                f"must be a positive number of seconds, got {self.timeout!r}",
                key="timeout",
            )
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ProjectError(
                f"must be a whole number, 0 or more, got {self.retries!r}", key="retries"
            )
        if self.name is not None:
            _check_name(self.name, "name", "task")

    @classmethod
    def from_command(cls, command: str) -> Task:
        """A task from a command line such as ``"check.py --strict"`` (split like a shell)."""
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise ProjectError(f"cannot split {command!r}: {exc}") from exc
        if not words:
            raise ProjectError("is empty", hint='write the script path, e.g. "extract.py"')
        return cls(script=words[0], args=tuple(words[1:]))

    @property
    def environment(self) -> dict[str, str]:
        """The task's own environment variables, as a dict."""
        return dict(self.env)

    @property
    def default_name(self) -> str:
        """The name used when none is given: the script's file name without suffix."""
        return self.name or Path(self.script).stem or "task"


def _check_flag(value: object, key: str) -> None:
    if not isinstance(value, bool):
        raise ProjectError(f"must be true or false, got {value!r}", key=key)


def _check_outputs(value: object) -> tuple[str, ...]:
    patterns = _check_strings(value, "outputs")
    for index, pattern in enumerate(patterns):
        parts = Path(pattern).parts
        if not pattern.strip() or Path(pattern).is_absolute() or ".." in parts:
            raise ProjectError(
                f"{pattern!r} must be a pattern inside the project",
                key=f"outputs[{index}]",
                hint='a path relative to the project root, e.g. "results/*.json"',
            )
    return patterns


def _check_script(value: object, key: str = "script") -> str:
    if isinstance(value, PathLike):
        value = str(value)
    if not isinstance(value, str):
        raise ProjectError(f"must be a path string, got {_type_name(value)}", key=key)
    if not value.strip():
        raise ProjectError("is empty", key=key, hint='e.g. "extract.py"')
    if Path(value).is_absolute():
        raise ProjectError(
            f"{value!r} is absolute",
            key=key,
            hint="give the path relative to the project root, so the project can move",
        )
    return value


@dataclass(frozen=True)
class Resources:
    """What a job needs from the machine it runs on.

    ``memory`` is in bytes (``"4GB"``, ``"512MiB"`` and plain numbers are accepted);
    ``custom`` names resources a cluster's nodes advertise, e.g. ``{ big_disk = 1 }``.
    The local engine honours ``cpus``; the Ray engine places jobs by all of them.
    """

    #: how many CPUs the job occupies while it runs (fractions allowed)
    cpus: float = 1
    #: how many GPUs it needs
    gpus: float = 0
    #: how much memory it needs, in bytes (0: no reservation)
    memory: int = 0
    #: custom resources, stored as sorted (name, amount) pairs
    custom: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not _is_positive(self.cpus):
            raise ProjectError(f"must be a positive number, got {self.cpus!r}", key="cpus")
        if not _is_positive(self.gpus) and self.gpus != 0:
            raise ProjectError(f"must be a number, 0 or more, got {self.gpus!r}", key="gpus")
        object.__setattr__(self, "memory", parse_bytes(self.memory, "memory"))
        object.__setattr__(self, "custom", _check_amounts(self.custom, "custom"))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Resources:
        """Resources from a table such as ``{ cpus = 2 }``; unknown keys are refused."""
        try:
            check_keys(table, [f.name for f in fields(cls)])
            return cls(**table)
        except ProjectError as exc:
            raise exc.within("resources") from None


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: object, key: str) -> int:
    """A size in bytes from a number or a string such as ``"4GB"`` or ``"512 MiB"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value) if isinstance(value, str) else None
    if match and match.group(2).lower() in _UNITS:
        return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ProjectError(
        f"must be a size such as \"4GB\" or a number of bytes, got {value!r}",
        key=key,
        hint="units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB",
    )


def _check_amounts(value: object, key: str) -> tuple[tuple[str, float], ...]:
    if isinstance(value, tuple):
        with contextlib.suppress(TypeError, ValueError):
            value = dict(value)  # the stored form: pairs
    if not isinstance(value, Mapping):
        raise ProjectError(f"must be a table of amounts, got {_type_name(value)}", key=key)
    for name, amount in value.items():
        if not isinstance(name, str) or not _is_positive(amount):
            raise ProjectError(f"must be a positive number, got {amount!r}", key=f"{key}.{name}")
    return tuple(sorted(value.items()))


def _as_task(value: object) -> Task:
    if isinstance(value, Task):
        return value
    if isinstance(value, str):
        return Task.from_command(value)
    raise ProjectError(
        f"must be a Task or a command string, got {_type_name(value)}",
        hint='e.g. "extract.py --fast" or { script = "extract.py" }',
    )


@dataclass(frozen=True)
class Job:
    """Related tasks that run together, in order, on one machine.

    A job knows nothing of the projects it is part of, so one job can be reused in
    several projects; dependencies belong to the project.
    """

    kind: ClassVar[Kind] = Kind.JOB

    name: str
    tasks: tuple[Task, ...]
    resources: Resources = field(default_factory=Resources)
    #: glob patterns (relative to the project root) of the files the job hands on
    outputs: tuple[str, ...] = ()
    #: run every task in a fresh interpreter
    fresh: bool = False
    #: modules the warm interpreter imports once, before it forks the tasks
    preload: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.name, "name", "job")
        object.__setattr__(self, "outputs", _check_outputs(self.outputs))
        _check_flag(self.fresh, "fresh")
        object.__setattr__(self, "preload", _check_strings(self.preload, "preload"))
        if isinstance(self.tasks, (str, Task)) or not isinstance(self.tasks, Iterable):
            raise ProjectError(
                f"must be a list of tasks, got {_type_name(self.tasks)}",
                key="tasks",
                hint='e.g. tasks = ["extract.py"]',
            )
        tasks = []
        for index, task in enumerate(self.tasks):
            try:
                tasks.append(_as_task(task))
            except ProjectError as exc:
                raise exc.within(f"tasks[{index}]") from None
        if not tasks:
            raise ProjectError(
                "a job needs at least one task", key="tasks", hint='e.g. tasks = ["extract.py"]'
            )
        object.__setattr__(self, "tasks", tuple(tasks))
        if isinstance(self.resources, Mapping):
            object.__setattr__(self, "resources", Resources.from_mapping(self.resources))
        if not isinstance(self.resources, Resources):
            raise ProjectError(
                f"must be a table, got {_type_name(self.resources)}", key="resources"
            )
        self._check_task_names()

    def _check_task_names(self) -> None:
        explicit = [task.name for task in self.tasks if task.name]
        for name in explicit:
            if explicit.count(name) > 1:
                raise ProjectError(f"two tasks are named {name!r}", key="tasks")

    @property
    def task_names(self) -> tuple[str, ...]:
        """A unique name for each task, in order: its ``name`` or script stem, numbered on clashes."""
        names: list[str] = []
        taken = {task.name for task in self.tasks if task.name}
        for task in self.tasks:
            name = task.default_name
            if not task.name and (name in names or name in taken):
                number = 2
                while f"{name}-{number}" in names or f"{name}-{number}" in taken:
                    number += 1
                name = f"{name}-{number}"
            names.append(name)
        return tuple(names)


@dataclass(frozen=True)
class Environment:
    """What every task of a project needs around it, wherever it runs.

    ``env`` is added to every task's environment (a task's own ``env`` wins).
    ``requirements`` (a file, relative to the project root) and ``packages`` are
    installed on the nodes by the Ray engine; locally, this Python is used as it is.
    """

    requirements: str | None = None
    packages: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.requirements is not None:
            object.__setattr__(self, "requirements", _check_script(self.requirements, "requirements"))
        object.__setattr__(self, "packages", _check_strings(self.packages, "packages"))
        object.__setattr__(self, "env", _check_env(self.env, "env"))

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
    # derived from ``jobs``: an index, not part of the value
    _by_name: dict[str, Job] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ProjectError(f"must be a non-empty string, got {self.name!r}", key="project.name")
        object.__setattr__(self, "root", Path(self.root).resolve())
        if isinstance(self.environment, Mapping):
            object.__setattr__(self, "environment", Environment.from_mapping(self.environment))
        if not isinstance(self.environment, Environment):
            raise ProjectError(f"must be a table, got {_type_name(self.environment)}", key="environment")
        _check_flag(self.fresh, "project.fresh")
        object.__setattr__(self, "preload", _check_strings(self.preload, "project.preload"))
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
            raise ProjectError(f"must be a list of jobs, got {_type_name(self.jobs)}", key="jobs")
        jobs = tuple(self.jobs)
        seen: set[str] = set()
        for index, job in enumerate(jobs):
            if not isinstance(job, Job):
                raise ProjectError(f"must be a Job, got {_type_name(job)}", key=f"jobs[{index}]")
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
            upstream = _check_strings(upstream, f"jobs.{name}.needs")
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

    def run(self, workers: int | None = None, **options: Any) -> RunResult:
        """Run the project and return what happened (see ``pyoneer.run`` for ``options``)."""
        from pyoneer.runner import (
            run,  # the runner builds on blueprints, not the other way
        )

        return run(self, workers, **options)
