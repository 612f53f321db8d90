"""Running a project: lock it, open its ledger, set up a manager and its engine, clean up.

``run`` (``pyoneer.run``) is what ``pyoneer run`` and Python callers both use.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence

from pyoneer.blueprints.fingerprint import fingerprints
from pyoneer.blueprints.project import Project
from pyoneer.engines.local import LocalEngine
from pyoneer.errors import MachineError, PyoneerError, UsageError
from pyoneer.ledger.recorder import LedgerRecorder
from pyoneer.ledger.runlock import RunLock
from pyoneer.ledger.store import Ledger
from pyoneer.pyoneers.context import new_run_id
from pyoneer.pyoneers.engine import Engine
from pyoneer.pyoneers.events import Observer
from pyoneer.pyoneers.manager import Manager
from pyoneer.pyoneers.results import RunResult


def run(
    project: Project,
    workers: int | None = None,
    *,
    resume: bool = False,
    engine: Engine | None = None,
    observers: Sequence[Observer] = (),
    stop_on_signals: bool = False,
) -> RunResult:
    """Run ``project`` to its end and return what happened; every change goes to its ledger.

    ``workers`` caps how many jobs run at once (default: the number of CPUs). With
    ``resume``, jobs that succeeded in the latest run with the same fingerprint are
    reused, not run again. With ``stop_on_signals`` (main thread only), SIGINT and
    SIGTERM stop the run cleanly and it returns as interrupted.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers must be a whole number, 1 or more, got {workers!r}")
    run_id = new_run_id()
    with RunLock(project.root) as lock:
        lock.acquire(run_id)
        ledger = Ledger.open(project.root)
        try:
            ledger.close_dead_runs()
            prints = fingerprints(project)
            reuse, resumed_from = _reusable(ledger, prints) if resume else (frozenset(), None)
            recorder = LedgerRecorder(ledger, prints, resumed_from)
            engine = engine or LocalEngine()
            engine.open(project)
            manager = Manager(
                engine,
                workers=workers,
                observers=[recorder, *observers],
                run_id=run_id,
                reuse=reuse,
            )
            with _signals_interrupt(manager) if stop_on_signals else contextlib.nullcontext():
                return execute(manager, project)
        finally:
            ledger.close()


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


def _reusable(ledger: Ledger, prints: dict[str, str]) -> tuple[frozenset[str], str | None]:
    """Jobs of the latest run that succeeded with the fingerprint they have now."""
    runs = ledger.runs()
    if not runs:
        return frozenset(), None
    latest = runs[-1].id
    succeeded = ledger.succeeded_jobs(latest)
    return frozenset(name for name, old in succeeded.items() if prints.get(name) == old), latest


@contextlib.contextmanager
def _signals_interrupt(manager: Manager) -> Iterator[None]:
    """While a run is on, Ctrl-C and SIGTERM ask the manager to stop (and clean up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        manager.interrupt(f"{signal.Signals(signum).name} received")

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
