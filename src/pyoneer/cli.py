"""The ``pyoneer`` command. Thin: it parses, delegates, and turns errors into exit codes.

Exit codes: 0 every job succeeded; 1 some job failed; 2 invalid project or usage
(nothing ran); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rich.console import Console

from pyoneer import __version__
from pyoneer.blueprints import Project
from pyoneer.display import make_view, print_summary
from pyoneer.engine import LocalEngine
from pyoneer.errors import EXIT_INTERRUPTED, EXIT_INVALID, PyoneerError
from pyoneer.manager import Manager
from pyoneer.projectfile import load
from pyoneer.runner import execute
from pyoneer.scaffold import init_project

_PATH = click.Path(path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="pyoneer")
def cli() -> None:
    """Run plain Python scripts as jobs and projects, in order, in parallel, here or on many machines."""


@cli.command()
@click.argument("path", type=_PATH, default=".")
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- ARGS]...")
@click.option(
    "--workers", "-w", type=click.IntRange(min=1), default=None,
    help="How many jobs may run at once (default: the number of CPUs).",
)
def run(path: Path, script_args: tuple[str, ...], workers: int | None) -> int:
    """Run the project at PATH (a directory, pyoneer.toml, pyproject.toml) or one script.

    \b
    pyoneer run                        the project in this directory
    pyoneer run train.py -- --epochs 3 one script, with its arguments
    """
    project = load(path, script_args)
    console = Console(highlight=False)
    view = make_view(project, console)
    manager = Manager(LocalEngine(), workers=workers, observers=[view])
    try:
        with _signals_interrupt(manager):
            result = execute(manager, project)
    finally:
        view.close()
    print_summary(result, console)
    return result.exit_code


@cli.command()
@click.argument("path", type=_PATH, default=".")
def check(path: Path) -> int:
    """Check the project at PATH and print its plan, without running anything."""
    project = load(path)
    click.echo(f"project {project.name} ({project.root}): {len(project.jobs)} jobs, valid")
    dependencies = project.dependencies
    for number, layer in enumerate(project.layers(), start=1):
        click.echo(f"step {number}:")
        for name in layer:
            click.echo(_describe_job(project, name, dependencies[name]))
    return 0


def _describe_job(project: Project, name: str, needs: tuple[str, ...]) -> str:
    job = project.job(name)
    lines = [f"  {name}" + (f"  (needs {', '.join(needs)})" if needs else "")]
    for task, task_name in zip(job.tasks, job.task_names):
        limits = []
        if task.timeout is not None:
            limits.append(f"timeout {task.timeout:g} s")
        if task.retries:
            limits.append(f"retries {task.retries}")
        command = " ".join([task.script, *task.args])
        lines.append(f"    {task_name}: {command}" + (f"  [{', '.join(limits)}]" if limits else ""))
    return "\n".join(lines)


@cli.command()
@click.argument("directory", type=_PATH, default=".")
def init(directory: Path) -> int:
    """Write a small example project into DIRECTORY (default: here)."""
    written = init_project(directory)
    click.echo(f"wrote an example project to {directory}:")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"run it with:   pyoneer run {directory}")
    click.echo(f"see the plan:  pyoneer check {directory}")
    return 0


@contextlib.contextmanager
def _signals_interrupt(manager: Manager) -> Iterator[None]:
    """While a run is on, Ctrl-C and SIGTERM ask the manager to stop (and clean up)."""

    def interrupt(signum: int, _frame: object) -> None:
        manager.interrupt(f"{signal.Signals(signum).name} received")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pyoneer`` command: run it and exit with its code."""
    try:
        code = cli.main(args=argv, prog_name="pyoneer", standalone_mode=False)
    except click.exceptions.Abort:
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except PyoneerError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code if isinstance(code, int) else EXIT_INVALID)
