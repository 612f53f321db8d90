"""The ``.pyoneer/`` directory of a project: the ledger, the run lock and the runs' logs.

Layout (public; ``pyoneer logs`` and users rely on it)::

    .pyoneer/ledger.db                           the ledger (see ``pyoneer.ledger.store``)
    .pyoneer/run.lock                            held while a manager runs the project
    .pyoneer/runs/<run id>/<job>/<task>.<attempt>.log
    .pyoneer/.gitignore                          ``*``: git leaves the whole directory out

It is made when first needed; a machine that refuses (a file named ``.pyoneer``, a
read-only or full disk, no permission) is told as a ``MachineError`` naming the path.
"""

from __future__ import annotations

from pathlib import Path

from pyoneer.errors import MachineError
from pyoneer.pyoneers.context import WORKSPACE


def workspace_of(root: Path) -> Path:
    """The ``.pyoneer`` directory of the project rooted at ``root``."""
    return root / WORKSPACE


def prepare_workspace(root: Path) -> Path:
    """Make sure ``.pyoneer/`` exists as a directory; the path."""
    workspace = workspace_of(root)
    try:
        workspace.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MachineError.from_os(exc, "create the directory", exc.filename or workspace) from exc
    ignore = workspace / ".gitignore"
    if not ignore.exists():  # as .pytest_cache does: `git status` stays quiet about the runs
        try:
            ignore.write_text("# made by pyoneer: its runs stay out of git\n*\n")
        except OSError:
            pass  # a nicety: the run goes on without it
    return workspace
