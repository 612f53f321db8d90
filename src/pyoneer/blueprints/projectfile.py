"""Reading a project from disk: ``pyoneer.toml``, ``[tool.pyoneer]`` or a single script.

This module owns the file format (a public contract, documented in the README). It
checks the shape of the tables — unknown keys, wrong table types — and leaves the
values themselves to the blueprints, so the Python API and the file are checked alike.
Every error names the file and the key path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyoneer.blueprints.checks import check_keys
from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.blueprints.task import Task
from pyoneer.errors import ProjectError

PROJECT_FILE = "pyoneer.toml"
PYPROJECT_FILE = "pyproject.toml"

_TOP_KEYS = ("project", "jobs", "engine", "environment")
_ENGINE_KEYS = ("name", "address")
_PROJECT_KEYS = ("name", "fresh", "preload")
_JOB_KEYS = ("tasks", "needs", "resources", "outputs", "fresh", "preload")
_TASK_KEYS = ("script", "args", "env", "timeout", "retries", "name", "fresh")


@dataclass(frozen=True)
class EngineChoice:
    """Where the file says to run: the ``[engine]`` table (``name``, ``address``)."""

    name: str = "local"
    address: str | None = None


@dataclass(frozen=True)
class ProjectFile:
    """A project and the run settings read along with it."""

    project: Project
    engine: EngineChoice = EngineChoice()


def load(path: str | Path = ".", script_args: tuple[str, ...] = ()) -> Project:
    """The project at ``path``: a directory, a ``pyoneer.toml``, a ``pyproject.toml`` or a script.

    ``script_args`` are passed to a single script and refused for anything else.
    """
    return read(path, script_args).project


def read(path: str | Path = ".", script_args: tuple[str, ...] = ()) -> ProjectFile:
    """Like ``load``, with the ``[engine]`` settings too."""
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"{path} does not exist", hint="give a project directory, a .toml file or a script")
    if path.is_file() and path.suffix != ".toml":
        return ProjectFile(script_project(path, script_args))
    if script_args:
        raise ProjectError(
            f"arguments after '--' are for a single script, and {path} is a project",
            hint="put the arguments in the task's args in pyoneer.toml",
        )
    return load_file(find_project_file(path))


def find_project_file(path: Path) -> Path:
    """The file that describes the project at ``path`` (a directory or a file)."""
    if path.is_file():
        return path
    candidate = path / PROJECT_FILE
    if candidate.is_file():
        return candidate
    pyproject = path / PYPROJECT_FILE
    if pyproject.is_file() and "pyoneer" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    raise ProjectError(
        f"{path} has no {PROJECT_FILE}"
        + (f", and its {PYPROJECT_FILE} has no [tool.pyoneer] table" if pyproject.is_file() else ""),
        hint=f"create one with 'pyoneer init {path}', or run a single script: 'pyoneer run script.py'",
    )


def load_file(file: Path) -> ProjectFile:
    """The project described by ``file`` (``pyproject.toml`` means its ``[tool.pyoneer]``)."""
    document = _read_toml(file)
    prefix = ""
    if file.name == PYPROJECT_FILE:
        prefix = "tool.pyoneer"
        document = document.get("tool", {}).get("pyoneer")
        if not isinstance(document, dict):
            raise ProjectError("no [tool.pyoneer] table", file=file, hint="add [tool.pyoneer.jobs.NAME]")
    try:
        return ProjectFile(_project(document, root=file.parent.resolve()), _engine(document))
    except ProjectError as exc:
        raise exc.within(prefix, file=file) from None


def _engine(document: dict[str, Any]) -> EngineChoice:
    table = _table(document.get("engine", {}), "engine")
    check_keys(table, _ENGINE_KEYS, "engine")
    for key in _ENGINE_KEYS:
        if key in table and not isinstance(table[key], str):
            raise ProjectError(f"must be a string, got {type(table[key]).__name__}", key=f"engine.{key}")
    return EngineChoice(table.get("name", "local"), table.get("address"))


def _read_toml(file: Path) -> dict[str, Any]:
    import tomllib  # here: a one-script run reads no TOML, and tomllib is slow to import

    try:
        with file.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"not valid TOML: {exc}", file=file) from None
    except OSError as exc:
        raise ProjectError(f"cannot read: {exc.strerror}", file=file) from None


def _table(value: object, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProjectError(f"must be a table, got {type(value).__name__}", key=key)
    return value


def _project(document: dict[str, Any], root: Path) -> Project:
    check_keys(document, _TOP_KEYS)
    settings = _table(document.get("project", {}), "project")
    check_keys(settings, _PROJECT_KEYS, "project")
    name = settings.get("name", root.name)
    jobs_table = _table(document.get("jobs", {}), "jobs")
    if not jobs_table:
        raise ProjectError("no jobs", key="jobs", hint='add a job: [jobs.main] tasks = ["main.py"]')
    jobs, needs = [], {}
    for job_name, table in jobs_table.items():
        key = f"jobs.{_toml_key(job_name)}"
        table = _table(table, key)
        try:
            check_keys(table, _JOB_KEYS)
            jobs.append(_job(job_name, table))
        except ProjectError as exc:
            # a bad job name is the table's own key, not a "name" key inside it
            raise (exc.within(key) if exc.key != "name" else ProjectError(exc.message, key=key, hint=exc.hint)) from None
        needs[job_name] = table.get("needs", ())
    environment = _table(document.get("environment", {}), "environment")
    return Project(
        name=name,
        jobs=tuple(jobs),
        needs=needs,
        root=root,
        environment=environment,
        fresh=settings.get("fresh", False),
        preload=settings.get("preload", ()),
    )


def _toml_key(name: str) -> str:
    """``name`` as TOML writes a key: bare when it can be, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _job(name: str, table: Mapping[str, Any]) -> Job:
    if "tasks" not in table:
        raise ProjectError("missing key 'tasks'", hint='e.g. tasks = ["extract.py"]')
    tasks = table["tasks"]
    if not isinstance(tasks, list):
        raise ProjectError(
            f"must be a list, got {type(tasks).__name__}", key="tasks", hint='e.g. tasks = ["extract.py"]'
        )
    return Job(
        name=name,
        tasks=tuple(_task(item, index) for index, item in enumerate(tasks)),
        resources=table.get("resources", {}),
        outputs=table.get("outputs", ()),
        fresh=table.get("fresh", False),
        preload=table.get("preload", ()),
    )


def _task(item: object, index: int) -> Task | str:
    if isinstance(item, str):
        return item  # the Job splits a command string, with the same key path
    try:
        table = _table(item, "")
        check_keys(table, _TASK_KEYS)
        if "script" not in table:
            raise ProjectError("missing key 'script'", hint='e.g. { script = "load.py" }')
        return Task(**table)
    except ProjectError as exc:
        raise exc.within(f"tasks[{index}]") from None


def script_project(script: Path, args: tuple[str, ...] = ()) -> Project:
    """A one-task project running ``script`` with ``args``, rooted in the script's directory."""
    if script.suffix != ".py":
        raise ProjectError(
            f"{script} is neither a Python script (.py) nor a .toml project file",
            hint="give a project directory, a pyoneer.toml, a pyproject.toml or a .py script",
        )
    root = script.parent.resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", script.stem).lstrip(".-") or "script"
    task = Task(script=script.name, args=tuple(args))
    return Project(name=name, jobs=(Job(name=name, tasks=(task,)),), root=root)
