"""The checks that open every run: mistakes a project file can hold that its shape does not show.

Each check returns the problems it finds (``ProjectError`` values with their key path)
rather than raising the first, so a file with several mistakes is fixed in one round
(see ``ProjectErrors``). What is checked:

- every script exists, is Python, and compiles (a syntax error names its file, line and
  caret); nothing is imported;
- a task string holds no shell operator (``>``, ``|``, ``&&``, ...) and does not start
  with ``python``;
- every ``preload`` name can be found by the import system, without importing it.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from pathlib import Path

from pyoneer.blueprints.checks import did_you_mean
from pyoneer.blueprints.task import Task
from pyoneer.errors import ProjectError

#: what a shell would have read as an operator; Pyoneer runs no shell
_OPERATORS = {">", ">>", "<", "<<", "|", "||", "&", "&&", ";", ">&", "<&", "&>", "|&", ";;", "(", ")"}
_INTERPRETERS = {"python", "python3"}
_NOT_PYTHON_HINT = ("Pyoneer runs Python scripts; to run anything else, call it from a Python script "
                    "with subprocess.run([...], check=True)")


def command_problems(command: str) -> list[ProjectError]:
    """What is wrong with a task written as a command string: ``python`` first, or shell operators."""
    problems = []
    try:
        words = shlex.split(command)
    except ValueError:
        return []  # the task itself says why it cannot be split
    if words and Path(words[0]).name in _INTERPRETERS or words and words[0].startswith("python3."):
        problems.append(ProjectError(
            f"{command!r} starts with {words[0]!r}",
            hint=f"scripts run with the project's interpreter; drop {words[0]!r}: "
                 f"{shlex.join(words[1:]) or 'script.py'!r}",
        ))
    operators = _operators(command)
    if operators:
        problems.append(ProjectError(
            f"{command!r} holds the shell operator{'s' if len(operators) > 1 else ''} {', '.join(operators)}",
            hint="Pyoneer runs no shell: each word is an argument of the script. Its output is logged "
                 "already (pyoneer logs JOB/TASK); write files from the script, and chain steps as tasks",
        ))
    return problems


def _operators(command: str) -> list[str]:
    """The shell operators of ``command``, as a shell would have read them, in order."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[str] = []
    try:
        for token in lexer:
            # "2>&1" reads as "2", ">&", "1": the operator is what matters
            if token in _OPERATORS and token not in found:
                found.append(token)
    except ValueError:
        return []
    return found


def script_problems(root: Path, tasks: Iterable[tuple[str, Task]]) -> list[ProjectError]:
    """Each script of ``(key, task)`` that is missing, not Python, or does not compile.

    ``key`` is the task's key path; each file is looked at once, and a fault is said once
    per key (the members of a matrix share their job's).
    """
    problems: dict[tuple[str, str], ProjectError] = {}
    verdicts: dict[str, ProjectError | None] = {}
    for key, task in tasks:
        if task.script not in verdicts:
            verdicts[task.script] = _script_problem(root, task.script)
        problem = verdicts[task.script]
        if problem is not None:
            problems.setdefault((key, task.script), ProjectError(problem.message, key=f"{key}.script", hint=problem.hint))
    return list(problems.values())


def _script_problem(root: Path, script: str) -> ProjectError | None:
    path = root / script
    if not path.is_file():
        state = "is a directory" if path.is_dir() else "does not exist"
        return ProjectError(f"script {script!r} {state} (looked in {root})")
    try:
        source = path.read_bytes()
    except OSError as exc:
        return ProjectError(f"cannot read script {script!r}: {exc.strerror}")
    if b"\0" in source:
        return ProjectError(f"{script!r} is not a Python script (a binary file)", hint=_NOT_PYTHON_HINT)
    first = source.split(b"\n", 1)[0]
    if first.startswith(b"#!") and b"python" not in first:
        shell = first[2:].decode(errors="replace").strip()
        return ProjectError(f"{script!r} is not a Python script (it starts with '#!{shell}')", hint=_NOT_PYTHON_HINT)
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return _syntax_problem(script, exc)
    except ValueError as exc:  # bytes that cannot be source at all
        return ProjectError(f"{script!r} is not a Python script: {exc}", hint=_NOT_PYTHON_HINT)
    return None


def _syntax_problem(script: str, exc: SyntaxError) -> ProjectError:
    """A syntax error as Python prints it: file and line, the line, a caret under the fault."""
    where = f"{script}, line {exc.lineno}" if exc.lineno else script
    text = (exc.text or "").rstrip("\n")
    shown = text.lstrip()
    lines = [f"{exc.msg} ({where})"]
    if shown:
        lines.append(f"    {shown}")
        if exc.offset:
            column = max(exc.offset - 1 - (len(text) - len(shown)), 0)
            lines.append("    " + " " * column + "^")
    suffix = Path(script).suffix
    hint = _NOT_PYTHON_HINT if suffix not in (".py", ".pyw", "") else ""
    return ProjectError("\n".join(lines), hint=hint)


def preload_problems(root: Path, names: Iterable[tuple[str, str]]) -> list[ProjectError]:
    """Each ``(key, module)`` whose module the import system cannot find, from the project root first.

    Nothing is imported: a dotted name's packages are looked for by path, as
    ``importlib.util.find_spec`` would, without running their ``__init__``.
    """
    problems = []
    for key, name in names:
        if not _findable(name, root):
            hint = _close_module(name, root)
            problems.append(ProjectError(
                f"no module named {name!r} (looked in the project and in {sys.executable}'s path)", key=key,
                hint=hint or "install it, or fix the name; preload takes module names such as 'numpy'",
            ))
    return problems


def _findable(name: str, root: Path) -> bool:
    import importlib.machinery

    top, *rest = name.split(".")
    if not top or top in sys.modules or top in sys.builtin_module_names:
        return bool(top)
    if importlib.machinery.FrozenImporter.find_spec(top) is not None:
        return True
    spec = importlib.machinery.PathFinder.find_spec(top, [str(root), *sys.path])
    for part in rest:
        if spec is None or not spec.submodule_search_locations:
            return False
        spec = importlib.machinery.PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
    return spec is not None


def _close_module(name: str, root: Path) -> str:
    import pkgutil

    top = name.split(".")[0]
    known = {module.name for module in pkgutil.iter_modules([str(root), *sys.path])}
    known.update(sys.builtin_module_names)
    return did_you_mean(top, known)


def cycle_problem(dependencies: dict[str, list[str]]) -> ProjectError | None:
    """The dependency cycle among ``dependencies`` (job -> the jobs it needs), if there is one.

    Worded as ``Project`` words it, so a cycle reads the same found here or there.
    """
    import graphlib

    try:
        tuple(graphlib.TopologicalSorter(dependencies).static_order())
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        return ProjectError(
            "dependency cycle: " + " -> ".join(cycle),
            key=f"jobs.{cycle[0]}.needs",
            hint="a job cannot wait, directly or not, for itself",
        )
    return None
