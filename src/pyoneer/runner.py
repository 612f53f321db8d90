"""Running a project: lock it, open its ledger, decide what runs, set up a manager and
its engine, clean up.

``run`` (``pyoneer.run``) is what ``pyoneer run`` and Python callers both use;
``preview`` is ``pyoneer run --dry-run``: the same decisions, nothing run or written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence

from pyoneer.blueprints.project import Project
from pyoneer.engines.local import LocalEngine
from pyoneer.errors import LedgerError, MachineError, PyoneerError, UsageError
from pyoneer.ledger import learned
from pyoneer.ledger.recorder import LedgerRecorder
from pyoneer.ledger.runlock import RunLock
from pyoneer.ledger.store import Ledger, Success, ledger_path
from pyoneer.ledger.uptodate import Decision, Survey, cut_off, decide, survey
from pyoneer.pyoneers.context import new_run_id
from pyoneer.pyoneers.engine import Engine
from pyoneer.pyoneers.events import Interrupted, Observer
from pyoneer.pyoneers.manager import Manager
from pyoneer.pyoneers.results import RunResult


def run(
    project: Project,
    workers: int | None = None,
    *,
    resume: bool = False,
    only: Sequence[str] = (),
    rerun_from: Sequence[str] = (),
    engine: Engine | None = None,
    observers: Sequence[Observer] = (),
    stop_on_signals: bool = False,
    run_id: str | None = None,
    follower: Callable[[Ledger], Observer] | None = None,
) -> RunResult:
    """Run ``project`` to its end and return what happened; every change goes to its ledger.

    ``workers`` caps how many jobs run at once (default: the number of CPUs). With
    ``resume``, jobs that are up to date (``pyoneer.ledger.uptodate``) are reused, not
    run again. ``only`` (``--only``) runs those jobs, and of what they need what is not up
    to date; ``rerun_from`` (``--from``) runs those jobs and everything downstream of them,
    likewise. With ``stop_on_signals`` (main thread only), SIGINT and SIGTERM stop the
    run cleanly and it returns as interrupted.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers must be a whole number, 1 or more, got {workers!r}")
    run_id = run_id or new_run_id()
    with RunLock(project.root, _single_script(project)) as lock:
        lock.acquire(run_id)
        ledger = Ledger.open(project.root)
        try:
            ledger.close_dead_runs()
            successes = ledger.successes()
            chosen, now, decisions = _decided(project, successes, resume, only, rerun_from)
            decided = resume or bool(only or rerun_from)
            runs = [earlier for earlier in ledger.runs() if earlier.project == project.name]  # a script's own
            resumed_from = runs[-1].id if decided and runs else None
            recorder = LedgerRecorder(ledger, now, decisions if decided else None, resumed_from)
            engine = engine or LocalEngine()
            engine.open(chosen)
            manager = Manager(
                engine,
                workers=workers,
                observers=[recorder, *observers, *([follower(ledger)] if follower else [])],
                run_id=run_id,
                reuse=frozenset(name for name, decision in decisions.items() if not decision.runs),
                why={name: decision.why for name, decision in decisions.items()} if decided else None,
                learned=learned.preloads(ledger, chosen),
                # a rerun whose outputs came out the same stops the wave (--from reruns all it asks)
                cutoff=(lambda name: cut_off(chosen, name, decisions, successes.get(name)))
                if resume and not rerun_from else None,
            )
            with _signals_interrupt(manager, observers) if stop_on_signals else contextlib.nullcontext():
                return execute(manager, chosen)
        finally:
            ledger.close()


def _single_script(project: Project) -> str | None:
    """The script a project of one script runs (its folder has no project file), whose
    runs lock only themselves; ``None`` for a project file's project."""
    from pyoneer.blueprints.projectfile import PROJECT_FILE, PYPROJECT_FILE

    if (project.root / PROJECT_FILE).exists() or (project.root / PYPROJECT_FILE).exists():
        return None
    scripts = {task.script for job in project.jobs for task in job.tasks}
    return project.name if len(scripts) == 1 else None


def preview(
    project: Project, *, resume: bool = False, only: Sequence[str] = (), rerun_from: Sequence[str] = ()
) -> list[Decision]:
    """What ``run`` with these options would do, job by job, and why: it runs nothing and
    writes nothing (an older ledger is read as it is, not upgraded)."""
    try:
        ledger = Ledger.open(project.root, create=False, upgrade=False)
    except LedgerError:
        if ledger_path(project.root).exists():
            raise  # a file that is not a ledger (or a newer one): say so
        successes: dict[str, Success] = {}  # no runs yet
    else:
        try:
            successes = ledger.successes()
        finally:
            ledger.close()
    chosen, _, decisions = _decided(project, successes, resume, only, rerun_from)
    return [decisions[job.name] for job in chosen.jobs]


def _decided(
    project: Project, successes: dict[str, Success], resume: bool, only: Sequence[str], rerun_from: Sequence[str]
) -> tuple[Project, Survey, dict[str, Decision]]:
    """The project the run covers (cut down to the targets and what they need), what its
    jobs are made of now, and whether each runs and why."""
    targets: frozenset[str] = frozenset()
    forced: frozenset[str] = frozenset()
    if only or rerun_from:
        from pyoneer.blueprints.targets import select  # only runs with targets need it

        project, targets, forced = select(project, only, rerun_from)
    now = survey(project, successes)
    decisions = decide(
        project, now, successes, resume=resume or bool(only or rerun_from), targets=targets, forced=forced,
    )
    return project, now, decisions


def execute(manager: Manager, project: Project) -> RunResult:
    """Have ``manager`` run ``project``, then stop it and its engine whatever happens.

    A fault of the machine once the run has begun (the ledger's disk is full, a log
    cannot be written) stops the run cleanly, every task ended, and is raised as a
    ``MachineError`` that exits 1; the ledger tells the truth up to its last commit.
    """
    manager.start()
    manager.assign(project)
    try:
        result = manager.run()
    except MachineError as exc:
        _stop_quietly(manager)
        if not manager.opened:
            raise  # the run's start could not be written down: nothing ran (exit 2)
        raise exc.during_run() from exc
    except BaseException:
        _stop_quietly(manager)
        raise
    try:
        manager.stop()
    finally:
        manager.engine.close()
    if manager.fault is not None:
        raise manager.fault
    return result


def _stop_quietly(manager: Manager) -> None:
    """Stop a manager whose run broke off; the error that broke it is the one to tell."""
    try:
        with contextlib.suppress(PyoneerError):  # e.g. the ledger still cannot be written
            manager.stop()
    finally:
        manager.engine.close()


@contextlib.contextmanager
def _signals_interrupt(manager: Manager, observers: Sequence[Observer] = ()) -> Iterator[None]:
    """While a run is on, Ctrl-C and SIGTERM ask the manager to stop (and clean up); asked
    again, its tasks are killed at once, their grace period cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    asked: list[int] = []
    from pyoneer.machine.processes import HURRY

    HURRY.clear()  # an earlier run of this process was killed: this one has its grace again

    def interrupt(signum: int, _frame: object) -> None:
        if asked:
            HURRY.set()
            for observer in observers:  # the views: the manager is busy ending the tasks
                observer.notify(Interrupted(f"{signal.Signals(signum).name} received again", kill=True))
            return
        asked.append(signum)
        manager.interrupt(f"{signal.Signals(signum).name} received")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
