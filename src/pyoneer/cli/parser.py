"""The ``pyoneer`` command line, declared: each command, its arguments and options, its help.

``argparse`` parses it (the standard library's: the parser a command that must start in a
few milliseconds can afford). Each command is a function (``pyoneer.cli.command`` hands
them over), called with the options as keyword arguments; its docstring is its help.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyoneer import __version__

_RUN_ID = {"dest": "run_id", "metavar": "ID", "help": "A run id (or its start); default: the latest."}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help as written in the docstrings (examples keep their lines), headed ``Usage:``."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        # argparse would import shutil for the width (and zlib, bz2 and lzma with it, ~2 ms
        # of every start: a formatter is made for every argument declared)
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix if prefix is not None else "Usage: ")


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one line (and the usage), exit 2, no traceback."""

    def error(self, message: str) -> Any:
        if "invalid choice" in message and "argument COMMAND" in message:
            wanted = message.split("'")[1] if "'" in message else message
            message = f"No such command {wanted!r}; the commands: {', '.join(_DECLARED)}"
        hint = f"{self.prog} --help says more"
        if message.startswith("unrecognized arguments: ") and _GIVEN[:1] in (["run"], ["submit"]):
            hint = _after_dashes(f"pyoneer {_GIVEN[0]}", message.partition(": ")[2])
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n  hint: {hint}\n")


#: the command line being parsed, for hints that repeat it
_GIVEN: list[str] = []


def _after_dashes(prog: str, extra: str) -> str:
    """The hint for a script's arguments given without ``--``: the command line, mended."""
    script = next((arg for arg in _GIVEN[1:] if arg.endswith(".py")), "SCRIPT")
    return f"a script's arguments? put them after --: {prog} {script} -- {extra}"


class Spelled(str):
    """An option's value that remembers how the option was written (``-m`` or ``--matrix``),
    so that an error about it names the option as the user wrote it."""

    option: str = ""


class _AppendSpelled(argparse._AppendAction):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        spelled = Spelled(values)
        spelled.option = option_string or ""
        super().__call__(parser, namespace, spelled, option_string)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` tells it: $COLUMNS, the
    terminal's, else 80."""
    with contextlib.suppress(ValueError):
        if int(os.environ.get("COLUMNS", "")) > 0:
            return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0 to 65535)")
    return value


def _params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", "-p", dest="param", action="append", default=[], metavar="NAME=VALUE",
                        help="Set a parameter of [params] (repeatable); VALUE is read as TOML, with its default's type.")
    parser.add_argument("--params", dest="params_file", type=Path, metavar="FILE",
                        help="Parameters from a TOML file of NAME = VALUE lines (-p wins).")


def _path(parser: argparse.ArgumentParser, name: str = "path") -> None:
    parser.add_argument(name, nargs="?", type=Path, default=Path("."), metavar=name.upper(),
                        help="The project (a directory, pyoneer.toml, pyproject.toml); default: here.")


def _what_runs(parser: argparse.ArgumentParser) -> None:
    """What ``run`` and ``submit`` share: the project, and which of its jobs run."""
    parser.add_argument("path", nargs="?", type=Path, default=Path("."), metavar="PATH",
                        help="A project (a directory, pyoneer.toml, pyproject.toml) or one script; default: here.")
    parser.add_argument("script_args", nargs="*", metavar="-- ARGS", help="A single script's arguments, after --.")
    parser.add_argument("--workers", "-w", type=_positive, default=None,
                        help="How many jobs may run at once (default: the number of CPUs, or the cluster's).")
    parser.add_argument("--resume", action="store_true",
                        help="Reuse the jobs that are up to date (they succeeded and nothing they depend on changed); run the rest.")
    parser.add_argument("--only", dest="only", action="append", default=[], metavar="JOB",
                        help="Run JOB (a name, glob, matrix member or selector; repeatable) and, of what it needs, "
                             "what is not up to date.")
    parser.add_argument("--from", dest="start", action="append", default=[], metavar="JOB",
                        help="Rerun JOB and everything downstream of it (repeatable); what they need is reused when up to date.")


def _settings(parser: argparse.ArgumentParser) -> None:
    """What ``run`` and ``submit`` share: the parameters, and a single script's sweep."""
    _params(parser)
    parser.add_argument("--matrix", "-m", dest="sweep", action=_AppendSpelled, default=[], metavar="KEY=V1,V2",
                        help="Sweep a single script over these values (repeatable); fill them into its arguments as {KEY}.")


def _run(parser: argparse.ArgumentParser) -> None:
    _what_runs(parser)
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="Show only the jobs' status lines and the summary, not the tasks' output.")
    parser.add_argument("--dry-run", action="store_true",
                        help="Run nothing, write nothing: print each job as run or reuse, and why.")
    parser.add_argument("--json", dest="as_json", action="store_true",
                        help="With --dry-run: print the plan as JSON (see the README).")
    parser.add_argument("--engine", dest="engine_name", metavar="NAME",
                        help="Where workers live: local (default), ray or slurm; overrides [engine] name.")
    parser.add_argument("--address", metavar="ADDR", help="The Ray cluster's address (default: RAY_ADDRESS, else a local Ray).")
    parser.add_argument("--gpus", metavar="IDS",
                        help="The GPUs jobs may be given, e.g. 0,1,3 (default: CUDA_VISIBLE_DEVICES, else nvidia-smi -L).")
    parser.add_argument("--resource", dest="resource", action="append", default=[], metavar="NAME=AMOUNT",
                        help="A custom resource of this machine that jobs share (repeatable), e.g. --resource license=2.")
    _settings(parser)


def _status(parser: argparse.ArgumentParser) -> None:
    _path(parser)
    parser.add_argument("--run", **_RUN_ID)
    parser.add_argument("--json", dest="as_json", action="store_true", help="Print the state as JSON (see the README).")


def _runs(parser: argparse.ArgumentParser) -> None:
    _path(parser)
    parser.add_argument("--json", dest="as_json", action="store_true", help="Print the runs as JSON (see the README).")


def _logs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("where", nargs="+", metavar="[PATH] JOB[/TASK]", help="The project (default: here), then the job or task.")
    parser.add_argument("--run", **_RUN_ID)
    parser.add_argument("--attempt", type=_positive, default=None, help="Which attempt (default: the latest).")
    parser.add_argument("--follow", "-f", action="store_true", help="Keep printing while the job runs.")


def _check(parser: argparse.ArgumentParser) -> None:
    _path(parser)
    _params(parser)
    parser.add_argument("--explain", action="store_true",
                        help="Also say what each job's warm interpreter preloads, learned from earlier runs, and why.")


def _init(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIRECTORY",
                        help="Where to write it; default: here.")


def _ui(parser: argparse.ArgumentParser) -> None:
    _path(parser)
    parser.add_argument("--port", type=_port, default=None,
                        help="The port to listen on (default: 7865, or the next free one; 0: any free port).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="The address to listen on (default: 127.0.0.1). Another than loopback lets others "
                             "reach it, with the token.")
    parser.add_argument("--no-browser", action="store_true", help="Print the address, but do not open a browser.")


def _report(parser: argparse.ArgumentParser) -> None:
    _path(parser)
    parser.add_argument("--run", **_RUN_ID)
    parser.add_argument("--output", "-o", type=Path, default=None, metavar="FILE",
                        help="Where to write it (default: pyoneer-report-<run id>.html here).")


def _submit(parser: argparse.ArgumentParser) -> None:
    _what_runs(parser)
    parser.add_argument("--engine", dest="engine_name", metavar="NAME",
                        help="Where the run goes: ray (default: a Ray cluster's job server) or slurm "
                             "(its manager as a Slurm batch job); overrides [engine] name.")
    parser.add_argument("--address", metavar="URL",
                        help="The cluster's job server, http://HEAD:8265 (default: [engine] address, else RAY_ADDRESS, "
                             "else the one this project was last submitted to).")
    parser.add_argument("--python", metavar="PATH",
                        help="The head's interpreter that runs Ray, for the run's manager (default: [engine] python, "
                             "else the python the head's PATH finds).")
    _settings(parser)


def _attach(parser: argparse.ArgumentParser) -> None:
    _submitted(parser)
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="Show only the jobs' status lines and the summary, not the tasks' output.")


def _submitted(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", nargs="?", default=None, metavar="RUN",
                        help="A submitted run's id (or its start); default: the latest submitted.")
    parser.add_argument("--path", type=Path, default=Path("."), metavar="PATH",
                        help="The project (its directory); default: here.")


#: each command, and what declares its arguments, in the order of the help
_DECLARED: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "run": _run, "check": _check, "init": _init, "status": _status, "runs": _runs, "logs": _logs,
    "ui": _ui, "report": _report, "submit": _submit, "attach": _attach, "stop": _submitted,
    "fetch": _submitted,
}

Commands = Mapping[str, Callable[..., int]]


def build(functions: Commands, wanted: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``functions``: each command's function. With ``wanted``, only that
    command is declared (the help that lists them all, and the error that names them, come
    without one): declaring all of them costs every start a few milliseconds."""
    top = _Parser(prog="pyoneer", formatter_class=_Formatter,
                  description="Run plain Python scripts as jobs and projects, in order, in parallel, "
                              "here or on many machines.")
    top.add_argument("--version", "-V", action="version", version=f"pyoneer, version {__version__}")
    # prog given: else argparse makes a help formatter to work it out, importing shutil (~2 ms)
    commands = top.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=_Parser,
                                  prog="pyoneer")
    commands.required = True
    for name, declare in _DECLARED.items():
        if wanted is not None and name != wanted:
            continue
        function = functions[name]
        text = inspect.cleandoc(function.__doc__ or "")
        sub = commands.add_parser(name, help=text.splitlines()[0] if text else "", description=text,
                                  formatter_class=_Formatter)
        declare(sub)
        sub.set_defaults(_function=function)
    return top


def parse(argv: Sequence[str], functions: Commands) -> tuple[Callable[..., int], dict[str, Any]]:
    """The command ``argv`` asks for, and its options (``SystemExit`` for help and errors).

    What follows ``--`` is a single script's arguments, as they are (argparse alone would
    not take positionals that come after options).
    """
    argv = list(argv)
    after: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, after = argv[:cut], argv[cut + 1:]
    parser = build(functions, argv[0] if argv and argv[0] in _DECLARED else None)
    _GIVEN[:] = argv
    options = vars(parser.parse_args(argv))
    function = options.pop("_function")
    options.pop("command", None)
    if after:
        if "script_args" not in options:
            parser.error(f"arguments after -- go to a script: pyoneer run SCRIPT -- ARGS ({' '.join(after)!r} given)")
        options["script_args"] = [*options["script_args"], *after]
    for name, value in options.items():  # the commands take what repeats as tuples
        if isinstance(value, list):
            options[name] = tuple(value)
    return function, options
