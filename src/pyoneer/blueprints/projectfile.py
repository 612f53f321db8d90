"""Reading a project from disk: ``pyoneer.toml``, ``[tool.pyoneer]`` or a single script.

This module owns the file format (a public contract, documented in the README). It
checks the shape of the tables — unknown keys, wrong table types — and leaves the
values themselves to the blueprints, so the Python API and the file are checked alike.
Every error names the file and the key path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoneer.blueprints.defaults import TRIED_KEYS, tried_as_set
from pyoneer.blueprints.checks import check_keys, check_strings, toml_key
from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.blueprints.task import Task
from pyoneer.errors import ProjectError, ProjectErrors, UsageError

if TYPE_CHECKING:
    from pyoneer.blueprints.matrix import Values
    from pyoneer.blueprints.placeholders import Value

# The matrix, placeholder and parameter modules are imported where a project file is
# read (which imports tomllib anyway): a one-script run needs none of them.

PROJECT_FILE = "pyoneer.toml"
PYPROJECT_FILE = "pyproject.toml"

_TOP_KEYS = ("project", "jobs", "engine", "environment", "params")
_ENGINE_KEYS = ("name", "address", "gpus", "resources", "slurm", "python")
_PROJECT_KEYS = ("name", "fresh", "preload", *TRIED_KEYS)
_JOB_KEYS = ("tasks", "needs", "resources", "outputs", "inputs", "fresh", "preload", "matrix", "slurm", *TRIED_KEYS)
_TASK_KEYS = ("script", "args", "env", "timeout", "retries", "name", "fresh", "retry_delay", "retry_backoff",
              "retry_delay_max")


@dataclass(frozen=True)
class EngineChoice:
    """Where the file says to run: the ``[engine]`` table.

    ``name`` and ``address`` choose the engine; ``gpus`` (device ids) and ``resources``
    (custom amounts) describe this machine to the local engine; ``slurm`` is the
    ``[engine.slurm]`` table, as sorted pairs (see ``pyoneer.blueprints.placement``);
    ``python`` is the head's interpreter for ``pyoneer submit`` (default: its PATH's).
    """

    name: str = "local"
    address: str | None = None
    gpus: tuple[str, ...] | None = None
    resources: tuple[tuple[str, float], ...] = ()
    slurm: tuple[tuple[str, Any], ...] = ()
    python: str | None = None


@dataclass(frozen=True)
class ProjectFile:
    """A project and the run settings read along with it."""

    project: Project
    engine: EngineChoice = EngineChoice()
    #: the file it was read from (None: a single script)
    file: Path | None = None
    #: what looks like a mistake but may be meant (an unused parameter): said, not refused
    warnings: tuple[str, ...] = ()


def load(
    path: str | Path = ".", script_args: tuple[str, ...] = (), params: Mapping[str, object] | None = None
) -> Project:
    """The project at ``path``: a directory, a ``pyoneer.toml``, a ``pyproject.toml`` or a script.

    ``script_args`` are passed to a single script and refused for anything else.
    ``params`` override the defaults of ``[params]`` (see ``pyoneer.blueprints.params``).
    """
    return read(path, script_args, params).project


def read(
    path: str | Path = ".",
    script_args: tuple[str, ...] = (),
    params: Mapping[str, object] | None = None,
    sweep: Mapping[str, list[str]] | None = None,
) -> ProjectFile:
    """Like ``load``, with the ``[engine]`` settings too.

    ``sweep`` (``-m KEY=V1,V2``) runs a single script over the combinations of its values.
    """
    path = Path(path)
    if not path.exists():
        raise ProjectError(f"{path} does not exist", hint="give a project directory, a .toml file or a script")
    if path.is_file() and path.suffix != ".toml":
        if params:
            raise UsageError("-p and --params set parameters of a project's [params]; a single script has none\n"
                             "  hint: sweep a script's values with -m KEY=V1,V2 instead")
        project = script_project(path, script_args, sweep or {})
        from pyoneer.blueprints.lint import script_problems

        # compiled, never imported: a syntax error is told before any worker starts
        problems = script_problems(project.root, [("", project.jobs[0].tasks[0])])
        if problems:
            raise ProjectError(problems[0].message, file=path, hint=problems[0].hint)
        return ProjectFile(project, warnings=_unused_sweep_keys(sweep or {}, script_args))
    if sweep:
        raise UsageError(f"-m sweeps a single script, and {path} is a project\n"
                         "  hint: write the sweep in pyoneer.toml: [jobs.NAME] matrix = { KEY = [V1, V2] }")
    if script_args:
        raise ProjectError(
            f"arguments after '--' are for a single script, and {path} is a project",
            hint="put the arguments in the task's args in pyoneer.toml",
        )
    return load_file(find_project_file(path), params)


def find_project_file(path: Path) -> Path:
    """The file that describes the project at ``path``: a file, or in a directory its
    ``pyoneer.toml`` (or a ``pyproject.toml`` with ``[tool.pyoneer]``), else the nearest
    folder's above it, as git finds its repository from a subfolder."""
    if path.is_file():
        return path
    for folder in (path, *path.resolve().parents):
        found = _project_file_in(folder)
        if found is not None:
            return found
    pyproject = path / PYPROJECT_FILE
    raise ProjectError(
        f"{path} has no {PROJECT_FILE}"
        + (f", and its {PYPROJECT_FILE} has no [tool.pyoneer] table" if pyproject.is_file() else "")
        + f", nor has any folder above it, up to {path.resolve().anchor}",
        hint=f"searched each for {PROJECT_FILE}, or {PYPROJECT_FILE} with [tool.pyoneer]; create one with "
             f"'pyoneer init {path}', or run a single script: 'pyoneer run script.py'",
    )


def _project_file_in(folder: Path) -> Path | None:
    candidate = folder / PROJECT_FILE
    if candidate.is_file():
        return candidate
    pyproject = folder / PYPROJECT_FILE
    if pyproject.is_file() and "pyoneer" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def load_file(file: Path, params: Mapping[str, object] | None = None) -> ProjectFile:
    """The project described by ``file`` (``pyproject.toml`` means its ``[tool.pyoneer]``)."""
    document = _read_toml(file)
    prefix = ""
    if file.name == PYPROJECT_FILE:
        prefix = "tool.pyoneer"
        document = document.get("tool", {}).get("pyoneer")
        if not isinstance(document, dict):
            raise ProjectError("no [tool.pyoneer] table", file=file, hint="add [tool.pyoneer.jobs.NAME]")
    try:
        project, warnings = _project(document, file.parent.resolve(), params or {})
        return ProjectFile(project, _engine(document), file, tuple(warnings))
    except ProjectError as exc:
        raise exc.within(prefix, file=file) from None


def _engine(document: dict[str, Any]) -> EngineChoice:
    table = _table(document.get("engine", {}), "engine")
    check_keys(table, _ENGINE_KEYS, "engine")
    for key in ("name", "address", "python"):
        if key in table and not isinstance(table[key], str):
            raise ProjectError(f"must be a string, got {type(table[key]).__name__}", key=f"engine.{key}")
    gpus = table.get("gpus")
    if gpus is not None:
        if not isinstance(gpus, list) or not all(isinstance(gpu, (int, str)) and not isinstance(gpu, bool) for gpu in gpus):
            raise ProjectError("must be a list of device ids", key="engine.gpus", hint="e.g. gpus = [0, 1, 3]")
        gpus = tuple(str(gpu) for gpu in gpus)
    resources = table.get("resources", {})
    if not isinstance(resources, dict):
        raise ProjectError(f"must be a table of amounts, got {type(resources).__name__}", key="engine.resources")
    for name, amount in resources.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not amount > 0:
            raise ProjectError(f"must be a positive number, got {amount!r}", key=f"engine.resources.{toml_key(name)}")
    slurm: tuple[tuple[str, Any], ...] = ()
    if "slurm" in table:
        from pyoneer.blueprints.placement import ENGINE_KEYS, check_placement

        slurm = check_placement(table["slurm"], "engine.slurm", ENGINE_KEYS)
    return EngineChoice(table.get("name", "local"), table.get("address"), gpus, tuple(resources.items()), slurm,
                        table.get("python"))


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


def _project(document: dict[str, Any], root: Path, overrides: Mapping[str, object]) -> tuple[Project, list[str]]:
    """The project and the warnings about it; every error found is raised at once (``ProjectErrors``)."""
    from pyoneer.blueprints import lint
    from pyoneer.blueprints.matrix import MemberIndex
    from pyoneer.blueprints.params import resolve_params

    check_keys(document, _TOP_KEYS)
    settings = _table(document.get("project", {}), "project")
    check_keys(settings, _PROJECT_KEYS, "project")
    name = settings.get("name", root.name)
    params = resolve_params(document.get("params", {}), overrides)
    jobs_table = _table(document.get("jobs", {}), "jobs")
    if not jobs_table:
        raise ProjectError("no jobs", key="jobs", hint='add a job: [jobs.main] tasks = ["main.py"]')
    groups: dict[str, list[tuple[str, Values]]] = {}
    written: list[tuple[str, Job, list[str]]] = []  # (key, member, its needs as written)
    # every job is read even after one is refused, so that all the file's mistakes show at once
    errors: list[ProjectError] = []
    used: set[str] = set()  # the placeholders some job fills
    warnings: list[str] = []
    for job_name, table in jobs_table.items():
        key = f"jobs.{toml_key(job_name)}"
        try:
            table = _table(table, key)
            check_keys(table, _JOB_KEYS)
            members = _members(table, params)
            jobs = [_job(job_name, table, values, params, (root, used, warnings)) for values in members]
            jobs = [tried_as_set(job, table["tasks"], table, settings) for job in jobs]
            _distinct(jobs)
            needs = list(check_strings(table.get("needs", ()), "needs"))
        except ProjectError as exc:
            # a bad job name is the table's own key, not a "name" key inside it
            errors.append(exc.within(key) if exc.key not in ("name", key) else ProjectError(exc.message, key=key, hint=exc.hint))
            continue
        groups[job_name] = [(job.name, dict(job.matrix)) for job in jobs]
        written += [(key, job, needs) for job in jobs]
    members = MemberIndex(groups)
    dependencies = {}
    for key, job, needs in written:
        values = dict(job.matrix)
        dependencies[job.name] = []
        for index, reference in enumerate(needs):
            try:
                dependencies[job.name] += members.upstream(reference, values, key=f"{key}.needs[{index}]")
            except ProjectError as exc:
                # a job named but refused above is no second mistake
                if reference.partition("[")[0] not in jobs_table or reference.partition("[")[0] in groups:
                    errors.append(exc)
    jobs_made = [job for _, job, _ in written]
    errors += lint.script_problems(root, [(f"{key}.tasks[{index}]", task) for key, job, _ in written
                                          for index, task in enumerate(job.tasks)])
    preload = settings.get("preload", ())
    learn = preload is not False  # preload = false: learn nothing (see ledger.learned)
    preload = preload if learn else ()
    engine = document.get("engine", {})
    # found in this interpreter: a cluster's nodes install packages this machine may lack
    if not isinstance(engine, dict) or engine.get("name", "local") == "local":
        errors += lint.preload_problems(root, [
            *((f"project.preload[{index}]", name) for index, name in enumerate(preload) if isinstance(name, str)),
            *dict.fromkeys((f"jobs.{toml_key(job.group)}.preload[{index}]", name)
                           for job in jobs_made for index, name in enumerate(job.preload)),
        ])
    cycle = lint.cycle_problem(dependencies)
    if cycle is not None:
        errors.append(cycle)
    if errors:
        raise ProjectErrors.of(errors)
    warnings += [f"[params] {name} is not used: no job's text has {{{name}}}" for name in params if name not in used]
    environment = _table(document.get("environment", {}), "environment")
    project = Project(
        name=name,
        jobs=tuple(job for _, job, _ in written),
        needs=dependencies,
        root=root,
        environment=environment,
        fresh=settings.get("fresh", False),
        preload=preload,
        learn=learn,
    )
    return project, warnings


def _members(table: Mapping[str, Any], params: Mapping[str, Value]) -> list[Values]:
    """The values of each member of the job (one member with none for a job without a matrix)."""
    if "matrix" not in table:
        return [{}]
    from pyoneer.blueprints.matrix import expand

    members = expand(table["matrix"], "matrix")
    for values in members:
        for name in values:
            if name in params:
                raise ProjectError(
                    f"{name!r} is both a matrix key and a parameter", key=f"matrix.{name}",
                    hint="they share one namespace: rename one of them",
                )
    return members


def _distinct(members: list[Job]) -> None:
    """Refuse two members of one job with one name (or one log folder): values that read
    alike, such as ``1`` and ``"1"``, would share their logs and their history."""
    seen: dict[str, Job] = {}
    for job in members:
        for name in dict.fromkeys((job.name, job.folder)):
            if name in seen and seen[name] is not job:
                first = seen[name]
                raise ProjectError(
                    f"two members are both named {name!r}: {_values(first)} and {_values(job)}", key="matrix",
                    hint="values that read alike (1 and \"1\") make one name: make them differ",
                )
            seen[name] = job


def _values(job: Job) -> str:
    import json

    from pyoneer.blueprints.placeholders import as_json

    return json.dumps(as_json(dict(job.matrix)), ensure_ascii=False)


def _job(
    name: str, table: Mapping[str, Any], values: Values, params: Mapping[str, Value],
    context: tuple[Path, set[str], list[str]],
) -> Job:
    """One member of the job ``name`` (the job itself when it has no matrix), its text filled in.

    ``context`` is the project's root, the placeholders some job fills (this one's are
    added) and the warnings (a brace left unfilled for want of values is added).
    """
    root, used_anywhere, warnings = context
    if "tasks" not in table:
        raise ProjectError("missing key 'tasks'", hint='e.g. tasks = ["extract.py"]')
    tasks = table["tasks"]
    if not isinstance(tasks, list):
        raise ProjectError(
            f"must be a list, got {type(tasks).__name__}", key="tasks", hint='e.g. tasks = ["extract.py"]'
        )
    known = {**params, **values}
    used: set[str] = set()  # the placeholders filled: the parameters among them are the job's
    # filled only where there is something to fill with: a project with neither a matrix
    # nor [params] keeps every brace of its text as written
    text = (lambda value, key: _filled(value, known, key, used)) if known else (lambda value, key: value)
    problems: list[ProjectError] = []
    tasks_made: list[Task] = []
    made_at: list[int] = []  # the index of each task made, in the file
    for index, item in enumerate(tasks):
        try:
            tasks_made.append(_task(item, index, text))
            made_at.append(index)
        except ProjectError as exc:  # the next task may hold a mistake of its own: say both
            problems.append(exc)
    if problems:
        from pyoneer.blueprints.lint import script_problems

        # the scripts of the tasks that were fine are checked too: one round fixes all
        problems += script_problems(root, [(f"tasks[{index}]", task) for index, task in zip(made_at, tasks_made)])
        raise ProjectErrors.of(problems)
    if not known:
        from pyoneer.blueprints.placeholders import names_in

        left = sorted({found for task in tasks_made for word in (task.script, *task.args) for found in names_in(word)})
        warnings += [f"jobs.{toml_key(name)}: {{{found}}} is not filled in: no matrix or params" for found in left]
    used_anywhere.update(used)
    outputs, inputs = text(table.get("outputs", ()), "outputs"), text(table.get("inputs", ()), "inputs")
    return Job(
        name=name,
        tasks=tuple(tasks_made),
        resources=table.get("resources", {}),
        outputs=outputs,
        inputs=inputs,
        fresh=table.get("fresh", False),
        preload=table.get("preload") or (),
        learn=table.get("preload") is not False,
        matrix=tuple(values.items()),
        params=tuple((key, value) for key, value in params.items() if key in used and key not in values),
        slurm=text(table.get("slurm", ()), "slurm"),
    )


def _filled(value: Any, known: Mapping[str, Value], key: str, used: set[str]) -> Any:
    """``value`` with its placeholders filled: a string, or the strings of a list or table.

    The names it fills are added to ``used``.
    """
    from pyoneer.blueprints.placeholders import fill, names_in

    if isinstance(value, str):
        used.update(names_in(value))
        return fill(value, known, key)
    if isinstance(value, list):
        return [_filled(item, known, f"{key}[{index}]", used) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {name: _filled(item, known, f"{key}.{name}", used) for name, item in value.items()}
    return value  # not text: the blueprint refuses it if it must


def _task(item: object, index: int, text: Callable[[Any, str], Any]) -> Task | str:
    try:
        if isinstance(item, str):
            return _command(item, text)
        table = _table(item, "")
        check_keys(table, _TASK_KEYS)
        if "script" not in table:
            raise ProjectError("missing key 'script'", hint='e.g. { script = "load.py" }')
        filled = {name: text(table[name], name) if name in _FILLED_TASK_KEYS else table[name] for name in table}
        return Task(**filled)
    except ProjectError as exc:
        raise exc.within(f"tasks[{index}]") from None


#: the keys of a task table whose text may hold placeholders
_FILLED_TASK_KEYS = ("script", "args", "env", "name")


def _command(command: str, text: Callable[[Any, str], Any]) -> Task:
    """A task from a command string: split like a shell, then each word filled in (so a
    value with spaces stays one argument)."""
    from pyoneer.blueprints.lint import command_problems

    task = Task.from_command(command)
    problems = command_problems(command)
    if problems:
        raise ProjectErrors.of(problems)
    words = [text(word, "") for word in (task.script, *task.args)]
    return Task(script=words[0], args=tuple(words[1:]))


def script_project(script: Path, args: tuple[str, ...] = (), sweep: Mapping[str, list[str]] | None = None) -> Project:
    """A one-task project running ``script`` with ``args``, rooted in the script's directory.

    With ``sweep`` (``{"lr": ["0.1", "0.01"]}``, values read as TOML values), it is one job
    with a matrix: a member for each combination, its values filled into ``args``.
    """
    if script.suffix != ".py":
        raise ProjectError(
            f"{script} is neither a Python script (.py) nor a .toml project file",
            hint="give a project directory, a pyoneer.toml, a pyproject.toml or a .py script",
        )
    root = script.parent.resolve()
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", script.stem).lstrip(".-") or "script"
    if not sweep:
        task = Task(script=script.name, args=tuple(args))
        return Project(name=name, jobs=(Job(name=name, tasks=(task,)),), root=root)
    from pyoneer.blueprints.matrix import expand
    from pyoneer.blueprints.placeholders import fill

    try:
        members = expand({key: [_sweep_value(value) for value in values] for key, values in sweep.items()})
        jobs = tuple(
            Job(name=name, tasks=(Task(script=script.name, args=tuple(fill(arg, values, "--") for arg in args)),),
                matrix=tuple(values.items()))
            for values in members
        )
    except ProjectError as exc:
        raise UsageError(f"-m: {exc.key}: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "")) from None
    return Project(name=name, jobs=jobs, root=root)


def _unused_sweep_keys(sweep: Mapping[str, list[str]], args: tuple[str, ...]) -> tuple[str, ...]:
    """A warning for each ``-m`` key that no argument's ``{key}`` uses: its members would run alike."""
    if not sweep:
        return ()
    from pyoneer.blueprints.placeholders import names_in

    used = {name for arg in args for name in names_in(arg)}
    return tuple(
        f"-m {key}: no argument has {{{key}}}, so its {len(values)} members differ only in PYONEER_MATRIX"
        for key, values in sweep.items() if key not in used
    )


def _sweep_value(text: str) -> Value:
    """A value of ``-m``: a TOML value if it reads as one (``0.1``, ``true``), else the text itself."""
    import tomllib

    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    return value if not isinstance(value, (list, dict)) else text
