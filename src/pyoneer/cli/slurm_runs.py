"""The commands of runs submitted to Slurm: ``submit --engine slurm``, ``attach``, ``stop``.

The run's ledger is the project's own, on the shared filesystem: ``attach`` follows it
(each job's changes as ``pyoneer run`` prints them in plain lines, the tasks' output
from their logs there, then how the run ended) and exits with the run's exit code;
Ctrl-C detaches. ``pyoneer.submission.slurm``
does the work.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyoneer.cli.echo import echo
from pyoneer.errors import EXIT_FAILED, UsageError
from pyoneer.status import RunState

if TYPE_CHECKING:
    from pyoneer.cli.attached import AttachedOutput
    from pyoneer.cli.display import PlainDisplay
    from pyoneer.pyoneers.events import TaskStarted

#: seconds between two looks at the ledger while attached
POLL = 0.5


def _say(text: str) -> None:
    echo(text, err=True)


def submit(path: Path, script_args: tuple[str, ...], options: dict[str, Any],
           params: dict[str, object], sweep: dict[str, list[str]]) -> int:
    """Check the project here (as Slurm would judge it), queue its manager, say how to follow it."""
    from pyoneer.blueprints.projectfile import read
    from pyoneer.engines.slurm.engine import SlurmEngine
    from pyoneer.errors import ProjectError
    from pyoneer.submission import slurm

    found = read(path, script_args, params, sweep)
    root = found.project.root
    try:
        SlurmEngine(dict(found.engine.slurm), announce=_say).open(found.project)  # refused here, not queued
    except ProjectError as exc:
        raise exc.within(file=found.file) from None
    file = path.resolve()
    given = {"path": str(file), "script_args": list(script_args), "params": params, "sweep": sweep, **options}
    run_id, number = slurm.submit(root, given, dict(found.engine.slurm))
    elsewhere = Path(path) != Path(".")
    echo(f"submitted run {run_id} to Slurm (its manager is Slurm job {number})")
    echo("  follow it:   pyoneer attach" + (f" --path {root}" if elsewhere else ""))
    echo("  its state:   pyoneer status" + (f" {root}" if elsewhere else ""))
    echo("  stop it:     pyoneer stop" + (f" --path {root}" if elsewhere else ""))
    return 0


def attach(root: Path, run_id: str, quiet: bool = False) -> int:
    """Follow a run submitted to Slurm to its end; its exit code.

    Its tasks' output is shown as ``pyoneer run`` shows it, from their logs on the shared
    filesystem (``pyoneer.cli.attached``); ``quiet``: status lines only."""
    from pyoneer.cli.attached import AttachedOutput
    from pyoneer.cli.display import PlainDisplay

    view = PlainDisplay(sys.stdout)  # status lines and tasks' lines, one writer: never mixed
    attempts = _Attempts(root, run_id, None if quiet else AttachedOutput(view, view.say))
    try:
        return _follow(root, run_id, view, attempts)
    except KeyboardInterrupt:
        _say("detached: the run goes on in Slurm (pyoneer attach follows it again)")
        return 0
    finally:
        attempts.close()


def _follow(root: Path, run_id: str, view: PlainDisplay, attempts: _Attempts) -> int:
    """Print the run's changes as the ledger records them, until it ends; its exit code."""
    from pyoneer.ledger.store import Ledger, ledger_path
    from pyoneer.submission import slurm

    number = slurm.manager_job(root, run_id)
    said_waiting = None
    seen = 0
    last: dict[str, str] = {}
    while True:
        run, events, rows = None, [], []
        if ledger_path(root).exists():  # made by the manager, once it starts
            with contextlib.closing(Ledger.open(root, readonly=True)) as ledger:
                run = {known.id: known for known in ledger.runs()}.get(run_id)
                if run is not None:
                    events, rows = ledger.events(run_id), ledger.assignments(run_id)
        attempts.look(rows)
        for event in events[seen:]:
            if last.get(event["subject"]) != event["change"]:  # not a job waiting, then not
                _print_event(event, view.say)
            last[event["subject"]] = event["change"]
        seen = len(events)
        if run is None:  # its manager has not started yet
            state = slurm.manager_state(number)
            if state is None or not state.alive:
                _say(f"error: the manager (Slurm job {number}) ended before the run began"
                     f" ({state.state if state else 'gone'}): see {slurm.slurm_dir(root, run_id) / 'manager.out'}")
                return EXIT_FAILED
            if state.state == "PENDING" and state.reason != said_waiting:
                said_waiting = state.reason
                _say(f"the manager (Slurm job {number}) waits in the queue: {state.reason}")
        elif run.result is not RunState.RUNNING:
            attempts.close()  # every task's last lines before how the run ended
            view.say(f"run {run_id} {run.result.value}")
            return slurm.EXIT_CODES.get(run.result, EXIT_FAILED)
        elif slurm.close_dead_managers(root):
            continue  # its manager died: written down as interrupted, told on the next turn
        time.sleep(POLL)


class _Attempts:
    """The run's task attempts as the ledger tells them, handed to ``output`` as they
    start and end (the first look: what the run had done before ``attach``)."""

    def __init__(self, root: Path, run_id: str, output: AttachedOutput | None) -> None:
        self._root = root
        self._run_id = run_id
        self._output = output
        self._running: dict[tuple[str, int], TaskStarted] = {}
        self._ended: set[tuple[str, int]] = set()
        self._outlined = False

    def look(self, rows: list[dict[str, Any]]) -> None:
        """Tell the attempts that started or ended since the last look; follow their copies."""
        output = self._output
        if output is None:
            return
        jobs = [row for row in rows if row["kind"] == "job"]
        if jobs and not self._outlined:
            self._outlined = True
            output.outline(self._run_id, [row["name"] for row in jobs], [row["name"] for row in jobs if row["reused"]])
        for row in rows:
            if row["kind"] == "task" and row["log"] and row["started"] is not None:
                self._look_at(output, row)
        output.caught_up()  # after the first look: nothing is done on the second

    def close(self) -> None:
        """Show what is left of every log (the run has ended)."""
        if self._output is not None:
            self._output.close()
            self._output = None

    def _look_at(self, output: AttachedOutput, row: dict[str, Any]) -> None:
        from pyoneer.ledger.history import job_of
        from pyoneer.pyoneers.events import Attempt, TaskEnded, TaskStarted

        key = (row["name"], row["attempt"])
        if key in self._ended:
            return
        started = self._running.get(key)
        if started is None:
            job = job_of(row["name"])
            attempt = Attempt(job, row["name"][len(job) + 1:], row["attempt"], self._root / row["log"], row["started"])
            started = self._running[key] = TaskStarted(row["pyoneer"], attempt, 0, at=row["started"])
            output.notify(started)
        if row["ended"] is not None:
            del self._running[key]
            self._ended.add(key)
            attempt = replace(started.attempt, ended=row["ended"], exit_code=row["exit_code"])
            output.notify(TaskEnded(started.worker, attempt, 0, at=row["ended"]))


def _print_event(event: dict[str, Any], say: Callable[[str], None]) -> None:
    """A job's change of status, as ``pyoneer run`` prints it in plain lines."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event["at"]))
    subject, change, detail = event["subject"], event["change"], event["detail"]
    if subject == "run":
        say(f"{stamp} run {change}" + (f": {detail}" if detail else ""))
    elif not subject.startswith(("manager", "worker-")) and "/" not in subject:
        say(f"{stamp} {subject} {change}" + (f" ({detail})" if detail and change == "running" else ""))


def stop(root: Path, run_id: str) -> int:
    """Stop a run submitted to Slurm: its manager ends every worker, and the run is interrupted."""
    from pyoneer.ledger.store import Ledger
    from pyoneer.submission import slurm

    number = slurm.manager_job(root, run_id)
    state = slurm.manager_state(number)
    if state is None or not state.alive:
        echo(f"run {run_id} had already ended (its manager, Slurm job {number}, is gone)")
        slurm.close_dead_managers(root)
        return 0
    slurm.stop(number)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = slurm.manager_state(number)
        if state is None or not state.alive:
            break
        time.sleep(POLL)
    slurm.close_dead_managers(root)
    with contextlib.closing(Ledger.open(root, readonly=True)) as ledger:
        result = {run.id: run.result for run in ledger.runs()}.get(run_id)
    echo(f"the run ended: {result.value if result is not None else 'stopped before it began'}")
    return 0


def submitted_run(root: Path, run: str | None) -> str | None:
    """The run a submitted-run command means, if it was submitted to Slurm (None: to Ray)."""
    from pyoneer.ledger import submissions
    from pyoneer.ledger.store import Ledger, ledger_path
    from pyoneer.submission import slurm

    chosen = slurm.latest_submitted(root, run)
    if chosen is None or run is not None:
        return chosen
    if ledger_path(root).exists():  # the latest of both kinds
        with contextlib.closing(Ledger.open(root, readonly=True)) as ledger:
            ray = [item.run_id for item in submissions.listed(ledger)]
        if ray and max(ray) > chosen:
            return None
    return chosen


def no_fetch(root: Path, run: str | None) -> None:
    """``fetch`` has nothing to do for a Slurm run: its outputs are already in the project."""
    if submitted_run(root, run) is not None:
        raise UsageError("a run submitted to Slurm wrote its outputs into the project itself "
                         "(the shared filesystem): there is nothing to fetch")
