"""The job: related tasks that run together, in order, on one machine; and what it needs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from pyoneer.blueprints.checks import (
    check_amounts,
    check_flag,
    check_keys,
    check_name,
    check_patterns,
    check_strings,
    is_positive,
    parse_bytes,
    type_name,
)
from pyoneer.blueprints.kind import Kind

if TYPE_CHECKING:
    from pyoneer.blueprints.placeholders import Value
from pyoneer.blueprints.task import Task, as_task
from pyoneer.errors import ProjectError


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
        if not is_positive(self.cpus):
            raise ProjectError(f"must be a positive number, got {self.cpus!r}", key="cpus")
        if not is_positive(self.gpus) and self.gpus != 0:
            raise ProjectError(f"must be a number, 0 or more, got {self.gpus!r}", key="gpus")
        if is_positive(self.gpus) and self.gpus > 1 and self.gpus != int(self.gpus):
            raise ProjectError(
                f"must be a fraction of one GPU or a whole number of them, got {self.gpus!r}", key="gpus",
                hint="e.g. 0.5 (half of one device, shared) or 2 (two devices of its own)",
            )
        object.__setattr__(self, "memory", parse_bytes(self.memory, "memory"))
        object.__setattr__(self, "custom", check_amounts(self.custom, "custom"))

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> Resources:
        """Resources from a table such as ``{ cpus = 2 }``; unknown keys are refused."""
        try:
            check_keys(table, [f.name for f in fields(cls)])
            return cls(**table)
        except ProjectError as exc:
            raise exc.within("resources") from None


@dataclass(frozen=True)
class Job:
    """Related tasks that run together, in order, on one machine.

    A job knows nothing of the projects it is part of, so one job can be reused in
    several projects; dependencies belong to the project.

    A member of a matrix carries its values in ``matrix`` (data for grouping and for
    ``PYONEER_MATRIX``, never status): ``Job("train", ..., matrix={"lr": 0.1})`` is named
    ``train[lr=0.1]``, and its ``group`` is ``train``.
    """

    kind: ClassVar[Kind] = Kind.JOB

    name: str
    tasks: tuple[Task, ...]
    resources: Resources = field(default_factory=Resources)
    #: glob patterns (relative to the project root) of the files the job hands on
    outputs: tuple[str, ...] = ()
    #: glob patterns of the files it reads: a change to one of them makes ``--resume`` rerun it
    inputs: tuple[str, ...] = ()
    #: run every task in a fresh interpreter
    fresh: bool = False
    #: modules the warm interpreter imports once, before it forks the tasks
    preload: tuple[str, ...] = ()
    #: whether its warm interpreter also preloads what its tasks imported last time
    #: (``preload = false`` turns that off); not part of its fingerprint
    learn: bool = field(default=True, compare=False)
    #: a matrix member's values, as (key, value) pairs in the order written
    matrix: tuple[tuple[str, Value], ...] = ()
    #: the project parameters its text uses, as (name, value) pairs: part of its fingerprint
    params: tuple[tuple[str, Value], ...] = ()
    #: how a cluster scheduler places it (``jobs.NAME.slurm``), as sorted (key, value)
    #: pairs: where it runs, not what it computes (no part of its fingerprint)
    slurm: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.matrix:
            self._name_member()
        else:
            check_name(self.name, "name", "job")
        object.__setattr__(self, "outputs", check_patterns(self.outputs, "outputs"))
        object.__setattr__(self, "inputs", check_patterns(self.inputs, "inputs"))
        object.__setattr__(self, "params", tuple(dict(self.params).items()))
        check_flag(self.fresh, "fresh")
        if self.slurm:
            from pyoneer.blueprints.placement import check_placement  # only cluster runs need it

            object.__setattr__(self, "slurm", check_placement(self.slurm, "slurm"))
        object.__setattr__(self, "preload", check_strings(self.preload, "preload"))
        if isinstance(self.tasks, (str, Task)) or not isinstance(self.tasks, Iterable):
            raise ProjectError(
                f"must be a list of tasks, got {type_name(self.tasks)}",
                key="tasks",
                hint='e.g. tasks = ["extract.py"]',
            )
        tasks = []
        for index, task in enumerate(self.tasks):
            try:
                tasks.append(as_task(task))
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
                f"must be a table, got {type_name(self.resources)}", key="resources"
            )
        self._check_task_names()

    def _name_member(self) -> None:
        # here, not at the top: a project without a matrix never needs these modules
        from pyoneer.blueprints.matrix import check_key
        from pyoneer.blueprints.member_names import member_name
        from pyoneer.blueprints.placeholders import check_matrix_value

        pairs = self.matrix.items() if isinstance(self.matrix, Mapping) else self.matrix
        try:
            values = dict(pairs)
        except (TypeError, ValueError):
            raise ProjectError(f"must be a table of values, got {type_name(self.matrix)}", key="matrix") from None
        for name, value in values.items():
            check_key(name, f"matrix.{name}")
            values[name] = check_matrix_value(value, f"matrix.{name}")
        group = self.name.partition("[")[0] if isinstance(self.name, str) else self.name
        check_name(group, "name", "job")
        full = member_name(group, values)
        if self.name not in (group, full):
            raise ProjectError(f"a member of {group!r} with these values is named {full!r}, not {self.name!r}", key="name")
        object.__setattr__(self, "name", full)
        object.__setattr__(self, "matrix", tuple(values.items()))

    @property
    def folder(self) -> str:
        """Where its logs go under its run's folder: a member's escaped name (see
        ``pyoneer.blueprints.member_names``), a plain job's own name."""
        if not self.matrix:
            return self.name
        from pyoneer.blueprints.member_names import folder_name

        return folder_name(self.group, dict(self.matrix))

    @property
    def group(self) -> str:
        """The job as written: a member's name without its values (a plain job's own name)."""
        return self.name.partition("[")[0] if self.matrix else self.name

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
