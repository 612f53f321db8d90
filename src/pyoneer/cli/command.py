"""The ``pyoneer`` command. Thin: it parses, delegates, and turns errors into exit codes.

Exit codes: 0 every job succeeded; 1 some job failed; 2 invalid project or usage
(nothing ran); 130 interrupted.

The command line is parsed by the standard library's ``argparse`` (``pyoneer.cli.parser``
declares it): a heavier parser would cost every ``pyoneer run`` more start-up than the
run of a small script takes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pyoneer.cli.echo import echo as _echo
from pyoneer.cli.given import gpus as _gpus
from pyoneer.cli.given import params as _params
from pyoneer.cli.given import resources as _resources
from pyoneer.cli.given import sweep as _sweep
from pyoneer.errors import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    MachineError,
    ProjectError,
    PyoneerError,
    UsageError,
)

if TYPE_CHECKING:
    from pyoneer.ledger.store import Ledger
    from pyoneer.machine.warm import ForkServer

# Each command imports what it needs when it runs: ``pyoneer run`` of one small script
# takes less time than importing everything would.

def run(
    path: Path,
    script_args: tuple[str, ...],
    workers: int | None,
    resume: bool,
    only: tuple[str, ...],
    start: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    engine_name: str | None,
    address: str | None,
    gpus: str | None,
    resource: tuple[str, ...],
    param: tuple[str, ...],
    params_file: Path | None,
    sweep: tuple[str, ...],
    quiet: bool = False,
) -> int:
    """Run the project at PATH (a directory, pyoneer.toml, pyproject.toml) or one script.

    pyoneer run                        the project in this directory
    pyoneer run --resume               only what is not up to date
    pyoneer run --only merge           merge, and what it needs that is not up to date
    pyoneer run --from count_sea       count_sea and everything downstream of it
    pyoneer run --resume --dry-run     what a run would do, and why
    pyoneer run -p epochs=10           with a parameter other than its default
    pyoneer run train.py -- --epochs 3 one script, with its arguments
    pyoneer run train.py -m lr=0.1,0.01 -- --lr {lr}   one script over several values
    pyoneer run -q                     the jobs' status and the summary, not the tasks' output
    """
    if as_json and not dry_run:
        raise UsageError("--json goes with --dry-run (the state of a run: pyoneer status --json)")
    if dry_run:
        return _dry_run(path, script_args, _params(param, params_file), _sweep(sweep), resume, only, start, as_json)
    # a fork server started by the launcher before the CLI was even imported, else now
    spare = _SPARE.pop() if _SPARE else None
    if spare is None and engine_name in (None, "local"):
        from pyoneer.machine.warm import spare_fork_server

        spare = spare_fork_server()
    try:
        from pyoneer.blueprints.projectfile import read
        from pyoneer.cli.display import open_display
        from pyoneer.engines.registry import engine_named
        from pyoneer.runner import run as run_project

        found = read(path, script_args, _params(param, params_file), _sweep(sweep))
        _warn(found.warnings)
        project = found.project
        display = open_display(project)
        from pyoneer.cli.output import OutputFollower

        # the tasks' output, as the script alone would show it (the logs keep it all anyway)
        follower = None if quiet else OutputFollower(display)
        choice = found.engine
        engine = engine_named(
            engine_name or choice.name, address or choice.address, announce=display.say, spare=spare,
            gpus=_gpus(gpus) if gpus is not None else choice.gpus,
            resources={**dict(choice.resources), **_resources(resource)}, slurm=dict(choice.slurm),
        )
        try:
            result = run_project(
                project, workers, resume=resume, only=only, rerun_from=start, engine=engine,
                # the follower first: an attempt's last lines come before the line of its end
                observers=[*([follower] if follower else []), display], stop_on_signals=True,
            )
        except ProjectError as exc:  # the engine refused a setting of the file (Slurm's partition...)
            raise exc.within(file=found.file) from None
        finally:
            if follower is not None:
                follower.close()  # every line shown before the summary
            display.close()
        display.summary(result)
        return result.exit_code
    finally:
        if spare is not None:
            spare.close()  # unless a worker took it (and closed it already)


def _dry_run(
    path: Path, script_args: tuple[str, ...], params: dict[str, object], sweep: dict[str, list[str]],
    resume: bool, only: tuple[str, ...], start: tuple[str, ...], as_json: bool,
) -> int:
    """``pyoneer run --dry-run``: each job as run or reuse, and why; nothing runs."""
    from pyoneer.blueprints.projectfile import read
    from pyoneer.cli import tables
    from pyoneer.runner import preview

    project = read(path, script_args, params, sweep).project
    decisions = preview(project, resume=resume, only=only, rerun_from=start)
    from pyoneer.ledger import learned

    preloads = learned.explain(project)
    if as_json:
        _echo(tables.dumps(tables.plan_json(project.name, decisions, preloads)))
    else:
        tables.print_plan(decisions, preloads=preloads)
    return 0


def status(path: Path, run_id: str | None, as_json: bool) -> int:
    """Show the state of the latest run (or --run ID): each pyoneer and its blueprint."""
    from pyoneer.cli import tables
    from pyoneer.cli.terminal import console
    from pyoneer.ledger import history  # only the reading commands need it

    root = _root_of(path)
    _refresh(root)
    with contextlib.closing(history.ledger_of(root)) as ledger:
        state = history.run_state(ledger, _script_run(ledger, path, run_id))
    if as_json:
        _echo(tables.dumps(state))
    else:
        tables.print_status(state, console())
    return 0


def runs(path: Path, as_json: bool) -> int:
    """List the project's runs, one a line."""
    from pyoneer.cli import tables
    from pyoneer.cli.terminal import console
    from pyoneer.ledger import history  # only the reading commands need it

    root = _root_of(path)
    _refresh(root)
    with contextlib.closing(history.ledger_of(root)) as ledger:
        listed = history.run_list(ledger)
    if as_json:
        _echo(tables.dumps(listed))
    else:
        tables.print_runs(listed, console())
    return 0


def logs(where: tuple[str, ...], run_id: str | None, attempt: int | None, follow: bool) -> int:
    """Print a task's log, or every task's of a job, from the latest run (or --run ID).

    JOB may be a glob (* and ?): several jobs or matrix members that it matches are each
    printed under a header with their name (with -f, followed together, each line headed
    by its job's name).
    """
    if len(where) > 2:
        raise UsageError("give at most a PATH and a JOB[/TASK]")
    path, target = (Path(where[0]), where[1]) if len(where) == 2 else (Path("."), where[0])
    root = _root_of(path)
    from pyoneer.ledger import history  # only the reading commands need it

    _refresh(root)
    with contextlib.closing(history.ledger_of(root)) as ledger:
        chosen = ledger.run(_script_run(ledger, path, run_id))
        pattern, task = history.split_target(target)  # a member's values may hold "/"
        slash = "/" if task else ""
        from pyoneer.cli import several_logs

        several = several_logs.matching(ledger, chosen, pattern)
        if len(several) > 1:
            if follow:
                from pyoneer.cli.submitted import keeping_up

                with keeping_up(root):  # a submitted run's mirror grows as the logs are followed
                    several_logs.follow_several(ledger, chosen.id, several, task, root)
            else:
                several_logs.print_several(ledger, chosen, several, task, attempt, root)
            return 0
        job = history.resolve_job(ledger, chosen, pattern)  # a member's name, or a glob for one
        target = job + slash + task
        history.check_target(ledger, chosen, job)
        origin = history.reused_from(ledger, chosen, job)
        if origin is not None:  # it did not run in this run (--resume): its logs are where it did
            _echo(f"{job} was reused from run {origin.id}; its logs there:", err=True)
            chosen = origin
        history.check_target(ledger, chosen, target)
        if follow:
            from pyoneer.cli.submitted import keeping_up

            with keeping_up(root):  # a submitted run's mirror grows as the logs are followed
                history.follow_logs(ledger, chosen.id, target, root)
            return 0
        rows = history.log_attempts(ledger, chosen, target, attempt)
        if not rows:
            raise UsageError(f"no log of {target}" + (f" attempt {attempt}" if attempt else "") + f" in run {chosen.id}")
        history.print_logs(rows, root)
    return 0


def _script_run(ledger: Ledger, path: Path, run_id: str | None) -> str | None:
    """``pyoneer status b.py``: b.py's latest run (a single script's runs are its own),
    unless --run names one; ``None``, the latest of all, for a project."""
    if run_id is not None or path.suffix != ".py" or not path.is_file():
        return run_id
    from pyoneer.blueprints.projectfile import script_project

    name = script_project(path).name
    own = [run for run in ledger.runs() if run.project == name]
    if not own:
        raise UsageError(f"{path} has not run yet here", hint=f"run it: pyoneer run {path}")
    return own[-1].id


def _root_of(path: Path) -> Path:
    """The project root that PATH names: the directory itself, or a file's directory; from
    a subfolder of a project (no runs of its own there), the project's, as git finds its
    repository."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    folder = (path if path.is_dir() else path.parent).resolve()
    if path.is_dir() and not (folder / ".pyoneer").exists():
        from pyoneer.blueprints.projectfile import find_project_file

        with contextlib.suppress(PyoneerError):  # none above either: the folder says "no runs yet"
            return find_project_file(folder).parent.resolve()
    return folder


def check(path: Path, param: tuple[str, ...], params_file: Path | None, explain: bool = False) -> int:
    """Check the project at PATH and print its plan, without running anything; with
    ``--explain``, also what each job's fork server preloads, learned, and why."""
    from pyoneer.blueprints.projectfile import read
    from pyoneer.cli.plan import describe

    found = read(path, params=_params(param, params_file))
    _warn(found.warnings)
    for line in describe(found.project):
        _echo(line)
    if explain:
        from pyoneer.cli.tables import print_preloads
        from pyoneer.cli.terminal import console
        from pyoneer.ledger import learned

        told = learned.explain(found.project)
        if told and any(told.values()):
            print_preloads(told, console())
        else:
            _echo("learned preload: nothing yet (the first warm run of a job teaches it)")
    return 0


def _warn(warnings: tuple[str, ...]) -> None:
    """What looks like a mistake in the project but may be meant: said on stderr, never refused."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def init(directory: Path) -> int:
    """Write a small example project into DIRECTORY (default: here)."""
    from pyoneer.cli.scaffold import init_project

    written = init_project(directory)
    _echo(f"wrote an example project to {directory}:")
    for path in written:
        _echo(f"  {path}")
    _echo(f"run it with:   pyoneer run {directory}")
    _echo(f"see the plan:  pyoneer check {directory}")
    return 0


def ui(path: Path, port: int | None, host: str, no_browser: bool) -> int:
    """Watch the project's runs in a browser: graph, timeline, state, logs (read-only, live)."""
    from pyoneer.ledger.store import Ledger, ledger_path

    try:
        from pyoneer.web.server import serve
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in ("starlette", "uvicorn", "anyio"):
            raise
        raise UsageError("pyoneer ui needs the web view's extra: pip install 'pyoneer[ui]'") from None
    root = _root_of(path)
    if not ledger_path(root).exists() and _is_project(root):
        # no run yet: an empty ledger, so the page opens now and shows the first run as it starts
        Ledger.open(root).close()
        _echo("no run yet: waiting for the first run (pyoneer run, in another terminal)", err=True)
    Ledger.open(root, readonly=True).close()  # no ledger, or not one of ours: say so before serving
    if host not in ("127.0.0.1", "localhost", "::1"):
        _echo(f"warning: listening on {host}: anyone who can reach it and holds the token can read "
                   "this project's logs", err=True)
    from pyoneer.cli.submitted import keeping_up

    try:
        with keeping_up(root):  # submitted runs not yet ended: their mirrors grow while it serves
            serve(root, host, port, open_browser=not no_browser, say=lambda text: _echo(text, err=True))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port if port is not None else 'a port from 7865'}: "
                         f"{exc.strerror or exc}\n  hint: try another --port") from None
    return 0


def _is_project(root: Path) -> bool:
    """Whether ``root`` holds a project file or scripts (``pyoneer ui`` may then make its ledger)."""
    from pyoneer.blueprints.projectfile import find_project_file

    if any(root.glob("*.py")):
        return True  # single scripts: their runs land here
    try:
        find_project_file(root)
    except PyoneerError:
        return False
    return True


def report(path: Path, run_id: str | None, output: Path | None) -> int:
    """Write one run (default: the latest) as a single HTML file that opens offline."""
    from pyoneer.ledger import history
    from pyoneer.web.report import report as make_report
    from pyoneer.web.report import write_report

    root = _root_of(path)
    with contextlib.closing(history.ledger_of(root)) as ledger:
        chosen, text = make_report(ledger, root, run_id)
    target = output or Path(f"pyoneer-report-{chosen}.html")
    write_report(target, text)
    _echo(f"wrote {target} (run {chosen})")
    return 0


def submit(
    path: Path, script_args: tuple[str, ...], address: str | None, workers: int | None, resume: bool,
    only: tuple[str, ...], start: tuple[str, ...], param: tuple[str, ...], params_file: Path | None,
    sweep: tuple[str, ...], engine_name: str | None = None, python: str | None = None,
) -> int:
    """Run the project at PATH on a Ray cluster, as a Ray job that outlives this command.

    pyoneer submit --address http://HEAD:8265     submit; later commands need no address
    pyoneer submit --resume                        run again what is not up to date there
    pyoneer attach                                 follow it (Ctrl-C detaches; it goes on)
    """
    options = {"workers": workers, "resume": resume, "only": list(only), "from": list(start)}
    if _submits_to_slurm(path, engine_name, address):
        from pyoneer.cli import slurm_runs

        if python:
            raise UsageError("--python names a Ray head's interpreter; a run submitted to Slurm takes none")

        return slurm_runs.submit(path, script_args, options, _params(param, params_file), _sweep(sweep))
    if engine_name not in (None, "ray"):
        raise UsageError(f"--engine {engine_name}: a run is submitted to ray or slurm")
    from pyoneer.cli.submitted import submit as submit_run

    return submit_run(path, script_args, address, options, _params(param, params_file), _sweep(sweep), python)


def _submits_to_slurm(path: Path, engine_name: str | None, address: str | None) -> bool:
    """Whether ``submit`` goes to Slurm: --engine slurm, or the file's [engine] name."""
    if engine_name is not None or address:
        return engine_name == "slurm"
    from pyoneer.blueprints.projectfile import find_project_file, load_file

    if path.is_file() and path.suffix == ".py":
        return False
    try:
        return load_file(find_project_file(path)).engine.name == "slurm"
    except PyoneerError:
        return False  # the submission itself says what is wrong with the project


def attach(run_id: str | None, path: Path, quiet: bool = False) -> int:
    """Follow a submitted run live, to its end, and exit with its exit code.

    pyoneer attach                     the latest submitted run, its tasks' output too
    pyoneer attach -q                  the jobs' status and the summary, not the tasks' output
    """
    from pyoneer.cli.submitted import attach as attach_run
    from pyoneer.cli.submitted import need_project

    root = need_project(path)
    from pyoneer.cli import slurm_runs

    slurm_run = slurm_runs.submitted_run(root, run_id)
    if slurm_run is not None:
        return slurm_runs.attach(root, slurm_run, quiet)
    return attach_run(root, run_id, quiet)


def stop(run_id: str | None, path: Path) -> int:
    """Stop a submitted run: its tasks are ended on every node."""
    from pyoneer.cli import slurm_runs
    from pyoneer.cli.submitted import need_project
    from pyoneer.cli.submitted import stop as stop_run

    root = need_project(path)
    slurm_run = slurm_runs.submitted_run(root, run_id)
    if slurm_run is not None:
        return slurm_runs.stop(root, slurm_run)
    return stop_run(root, run_id)


def fetch(run_id: str | None, path: Path) -> int:
    """Bring a submitted run's declared outputs home, as a local run leaves them."""
    from pyoneer.cli import slurm_runs
    from pyoneer.cli.submitted import fetch as fetch_run
    from pyoneer.cli.submitted import need_project

    root = need_project(path)
    slurm_runs.no_fetch(root, run_id)
    return fetch_run(root, run_id)


def _refresh(root: Path) -> None:
    """Submitted runs not yet ended: their mirrors first brought up to date; a run whose
    manager was a Slurm job that ended is written down as interrupted."""
    from pyoneer.cli.submitted import refresh

    refresh(root)
    if (root / ".pyoneer" / "runs").is_dir() and any((root / ".pyoneer" / "runs").glob("*/slurm/manager")):
        from pyoneer.submission.slurm import close_dead_managers

        with contextlib.suppress(PyoneerError):  # no Slurm here (a copied ledger): the ledger is believed
            close_dead_managers(root)


#: the fork server the launcher started for ``run`` (taken by the first run, else closed by main)
_SPARE: list[ForkServer | None] = []


def _can_write(stream: object) -> bool:
    try:
        stream.flush()
    except (BrokenPipeError, ValueError):
        return False
    return True


def main(argv: list[str] | None = None, spare: ForkServer | None = None) -> NoReturn:
    """Entry point of the ``pyoneer`` command: run it and exit with its code.

    ``spare``: a fork server already starting, for ``run`` (see ``pyoneer.launch``).
    """
    from pyoneer.cli.parser import parse

    _SPARE[:] = [spare]
    try:
        commands = {"run": run, "check": check, "init": init, "status": status, "runs": runs, "logs": logs,
                    "ui": ui, "report": report, "submit": submit, "attach": attach, "stop": stop, "fetch": fetch}
        handler, options = parse(sys.argv[1:] if argv is None else argv, commands)
        code = handler(**options)
    except SystemExit as exc:  # argparse: --help, --version, or a usage error (exit 2)
        code = exc.code if isinstance(exc.code, int) else EXIT_INVALID
    except PyoneerError as exc:
        _echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except OSError as exc:  # one the boundaries below did not foresee: still no traceback
        error = MachineError.from_os(exc, "use")
        _echo(f"error: {error}", err=True)
        code = error.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    # nothing more may reach a closed pipe, not even the interpreter's last flush
    with contextlib.suppress(OSError):
        sys.stdout.flush()
    if sys.stdout.closed or not _can_write(sys.stdout):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if spare is not None:
        spare.close()  # a command other than run had no use for it (a no-op if run took it)
    code = code if isinstance(code, int) else EXIT_INVALID
    if "ray" in sys.modules:
        sys.exit(code)  # Ray shuts its local processes down in its atexit handlers
    # Everything is written, closed and ended by now; the interpreter's finalization
    # would only free memory, object by object (~10 ms of a one-script run).
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)
