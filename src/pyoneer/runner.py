"""Running a project from Python: set up a manager and its engine, run, clean up.

``run`` is what ``Project.run()`` uses; ``pyoneer run`` builds its own manager (to
forward signals to it) and calls ``execute``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyoneer.blueprints import Project
from pyoneer.engine import Engine, LocalEngine
from pyoneer.errors import UsageError
from pyoneer.events import Observer
from pyoneer.manager import Manager
from pyoneer.results import RunResult


def run(
    project: Project,
    workers: int | None = None,
    engine: Engine | None = None,
    observers: Sequence[Observer] = (),
) -> RunResult:
    """Run ``project`` to its end and return what happened.

    ``workers`` caps how many jobs run at once (default: the number of CPUs).
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UsageError(f"workers must be a whole number, 1 or more, got {workers!r}")
    engine = engine or LocalEngine()
    return execute(Manager(engine, workers=workers, observers=observers), project)


def execute(manager: Manager, project: Project) -> RunResult:
    """Have ``manager`` run ``project``, then stop it and its engine whatever happens."""
    manager.start()
    manager.assign(project)
    try:
        return manager.run()
    finally:
        manager.stop()
        manager.engine.close()
