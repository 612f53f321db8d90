"""The commands of runs submitted to Slurm: ``submit --engine slurm``, ``attach``, ``stop``.

The run's ledger is the project's own, on the shared filesystem: ``attach`` follows it
(each job's changes as ``pyoneer run`` prints them in plain lines, then how the run
ended) and exits with the run's exit code; Ctrl-C detaches. ``pyoneer.submission.slurm``
does the work.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from pyoneer.cli.echo import echo
from pyoneer.errors import EXIT_FAILED, UsageError
from pyoneer.status import RunState

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


def attach(root: Path, run_id: str) -> int:
    """Follow a run submitted to Slurm to its end; its exit code."""
    from pyoneer.ledger.store import Ledger, ledger_path
    from pyoneer.submission import slurm

    number = slurm.manager_job(root, run_id)
    said_waiting = None
    seen = 0
    last: dict[str, str] = {}
    try:
        while True:
            run, events = None, []
            if ledger_path(root).exists():  # made by the manager, once it starts
                with contextlib.closing(Ledger.open(root, readonly=True)) as ledger:
                    run = {known.id: known for known in ledger.runs()}.get(run_id)
                    events = ledger.events(run_id) if run is not None else []
            for event in events[seen:]:
                if last.get(event["subject"]) != event["change"]:  # not a job waiting, then not
                    _print_event(event)
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
                echo(f"run {run_id} {run.result.value}")
                return slurm.EXIT_CODES.get(run.result, EXIT_FAILED)
            elif slurm.close_dead_managers(root):
                continue  # its manager died: written down as interrupted, told on the next turn
            time.sleep(POLL)
    except KeyboardInterrupt:
        _say("detached: the run goes on in Slurm (pyoneer attach follows it again)")
        return 0


def _print_event(event: dict[str, Any]) -> None:
    """A job's change of status, as ``pyoneer run`` prints it in plain lines."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event["at"]))
    subject, change, detail = event["subject"], event["change"], event["detail"]
    if subject == "run":
        echo(f"{stamp} run {change}" + (f": {detail}" if detail else ""))
    elif not subject.startswith(("manager", "worker-")) and "/" not in subject:
        echo(f"{stamp} {subject} {change}" + (f" ({detail})" if detail and change == "running" else ""))


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
