"""Runs that outlive the login session on Slurm: the manager itself as a small batch job.

``pyoneer submit --engine slurm`` queues ``python -m pyoneer.submission.slurm OPTIONS``,
a one-CPU batch job that runs the project exactly as ``pyoneer run --engine slurm``
would, its workers batch jobs of their own. The ledger is already on the filesystem that
the login and compute nodes share, so there is no mirror to keep: ``status``, ``runs``,
``logs`` read it as they read a local run's, and ``attach`` follows it. What a login
node cannot see by itself is a manager that died (its node failed, its walltime ran
out): ``close_dead_managers`` asks Slurm, in one ``squeue``, and writes such a run down
as interrupted, so it is never shown as running.

The manager's Slurm job id is kept in ``.pyoneer/runs/<run id>/slurm/manager``, written
before the job can start.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from pyoneer.engines.slurm.commands import JobState, Slurm
from pyoneer.engines.slurm.mailbox import write_whole
from pyoneer.errors import EXIT_FAILED, EXIT_INTERRUPTED, LedgerError, PyoneerError
from pyoneer.ledger.store import Ledger, ledger_path
from pyoneer.pyoneers.context import WORKSPACE, new_run_id
from pyoneer.status import RunState

#: the file, under a run's Slurm directory, that names its manager's Slurm job
MANAGER_FILE = "manager"
#: how a finished run's result becomes the exit code of ``attach``
EXIT_CODES = {RunState.SUCCEEDED: 0, RunState.FAILED: EXIT_FAILED, RunState.INTERRUPTED: EXIT_INTERRUPTED,
              RunState.LOST: EXIT_FAILED}


def slurm_dir(root: Path, run_id: str) -> Path:
    """Where a run's Slurm files live (its workers' mailboxes, its manager's job id)."""
    return root / WORKSPACE / "runs" / run_id / "slurm"


def submit(root: Path, options: dict[str, Any], settings: dict[str, Any]) -> tuple[str, str]:
    """Queue the manager of a new run of the project at ``root``; its run id and Slurm job id."""
    slurm = Slurm()
    run_id = new_run_id()
    directory = slurm_dir(root, run_id)
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pyoneer.submission.slurm", json.dumps({**options, "run_id": run_id})]
    script = "#!/bin/sh\n# a Pyoneer manager\nexec " + " ".join(shlex.quote(word) for word in command) + "\n"
    placement = [f"--{key}={settings[key]}" for key in ("partition", "account", "qos") if key in settings]
    number = slurm.submit(script, [
        f"--job-name=pyoneer-{run_id}-manager", f"--output={directory / 'manager.out'}", f"--chdir={root}",
        "--nodes=1", "--ntasks=1", "--cpus-per-task=1", "--no-requeue", *placement,
    ])
    write_whole(directory / MANAGER_FILE, number.encode())
    return run_id, number


def manager_job(root: Path, run_id: str) -> str | None:
    """The Slurm job of a submitted run's manager (None: the run was not submitted to Slurm)."""
    try:
        return (slurm_dir(root, run_id) / MANAGER_FILE).read_text().strip() or None
    except OSError:
        return None


def latest_submitted(root: Path, run: str | None = None) -> str | None:
    """The id of the latest run submitted to Slurm (or of the one ``run`` starts), if any."""
    runs = root / WORKSPACE / "runs"
    found = sorted(path.parent.parent.name for path in runs.glob(f"*/slurm/{MANAGER_FILE}")) if runs.is_dir() else []
    if run is not None:
        found = [name for name in found if name.startswith(run)]
    return found[-1] if found else None


def manager_state(number: str) -> JobState | None:
    """What Slurm says of a manager's job (None: it no longer knows it)."""
    return Slurm().states([number]).get(number)


def close_dead_managers(root: Path) -> list[str]:
    """Write down as interrupted every run of the project that the ledger calls running
    whose manager lived in a Slurm job that has ended; the runs so closed."""
    if not ledger_path(root).exists():
        return []
    with contextlib.closing(Ledger.open(root)) as ledger:
        # the login node cannot look at a process on another node: Slurm can
        running = {run.id: manager_job(root, run.id) for run in ledger.runs() if run.result is RunState.RUNNING}
        jobs = {run_id: number for run_id, number in running.items() if number}
        if not jobs:
            return []
        states = Slurm().states(jobs.values())
        dead = []
        for run_id, number in jobs.items():
            state = states.get(number)
            if state is None or not state.alive:
                said = f"{state.state}" if state is not None else "Slurm no longer knows it"
                ledger.mark_interrupted(run_id, detail=f"its manager's Slurm job {number} ended ({said})")
                dead.append(run_id)
        ledger.commit()
        return dead


def stop(number: str) -> None:
    """Ask a submitted run's manager to stop (SIGTERM to it alone: it ends its workers
    and writes the run down as interrupted); one still in the queue is cancelled."""
    slurm = Slurm()
    state = slurm.states([number]).get(number)
    if state is not None and state.state == "PENDING":
        slurm.cancel([number])
    else:
        slurm.signal(number, "TERM")


def main(argv: list[str]) -> int:
    """The manager's batch job: run the project on Slurm; the run's exit code."""
    from pyoneer.blueprints.projectfile import read
    from pyoneer.engines.slurm.engine import SlurmEngine
    from pyoneer.runner import run

    options = json.loads(argv[0])
    try:
        found = read(Path(options["path"]), tuple(options.get("script_args", ())), options.get("params") or {},
                     options.get("sweep") or {})
        engine = SlurmEngine(dict(found.engine.slurm), announce=print)
        result = run(found.project, options.get("workers"), resume=options.get("resume", False),
                     only=options.get("only", ()), rerun_from=options.get("from", ()), engine=engine,
                     stop_on_signals=True, run_id=options["run_id"])
    except (PyoneerError, LedgerError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print(f"run {result.run_id}: exit code {result.exit_code}", flush=True)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
