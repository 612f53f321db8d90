"""Preload, learned, forgotten: a module a job learned to preload is forgotten once the
job's code no longer imports it, so that a library dropped from the scripts is not
imported by every fork server ever after (seconds of start and hundreds of MB for torch).

As a run starts, each module learned of a job is looked at again when one of the job's
files (its scripts and the project modules they import) changed after the run that
learned it: it stays while some import in those files still names its package
(``import torch.nn`` or ``importlib.import_module("torch")`` names ``torch``), and is
forgotten otherwise; a later import learns it anew. A module imported under a name the
code does not spell out (computed at run time) is forgotten after such an edit, then
learned again by the first run that imports it: one run without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.ledger.store import Ledger

if TYPE_CHECKING:
    from pyoneer.blueprints.imports import ModuleScan


def forget_stale(ledger: Ledger, project: Project) -> list[tuple[str, str]]:
    """Forget, for each job of ``project``, the learned modules its code no longer names
    (see the module's docstring); the (job, module) pairs forgotten."""
    learned: dict[str, list[tuple[str, float | None]]] = {}
    for job, module, started in ledger.connection.execute(
        "SELECT learned.job, learned.module, runs.started FROM learned LEFT JOIN runs ON runs.id = learned.run_id"
        " WHERE learned.verdict IS NULL"
    ):
        learned.setdefault(job, []).append((module, started))
    stale: list[tuple[str, str]] = []
    scan: ModuleScan | None = None
    seen: dict[str, float] = {}  # each file looked at once, however many members share it
    for job in project.jobs:
        if job.name not in learned:
            continue
        # first the cheap look: the scripts and the project modules its tasks last imported
        newest = _newest(project.root, [*(task.script for task in job.tasks), *_last_modules(ledger, job.name)], seen)
        changed = [module for module, started in learned[job.name] if started is None or newest > started]
        if not changed:
            continue  # nothing changed since it was learned: a name computed at run time stays
        if scan is None:
            from pyoneer.blueprints.imports import ModuleScan  # read only when a job's code changed

            scan = ModuleScan(project.root)
        named = _named(scan, project, job)
        stale += [(job.name, module) for module in changed if module.split(".")[0] not in named]
    if stale:
        with ledger.writing():
            ledger.connection.executemany("DELETE FROM learned WHERE job = ? AND module = ?", stale)
    return stale


def _last_modules(ledger: Ledger, job: str) -> list[str]:
    """The project modules the job's warm tasks imported when it last ran (the ledger's)."""
    row = ledger.connection.execute(
        "SELECT modules FROM assignments WHERE kind = 'job' AND name = ? AND modules IS NOT NULL"
        " ORDER BY rowid DESC LIMIT 1", (job,)).fetchone()
    return list(json.loads(row[0])) if row and row[0] else []


def _named(scan: ModuleScan, project: Project, job: Job) -> set[str]:
    """The names the job's scripts and their project modules import, read from them."""
    from pyoneer.ledger.uptodate import search_path

    named: set[str] = set()
    for task in job.tasks:
        named |= scan.named(task.script, search_path(project, task))
    return named


def _newest(root: Path, files: Iterable[str], seen: dict[str, float]) -> float:
    """When the newest of ``files`` (relative to ``root``) last changed (a file gone: now)."""
    newest = 0.0
    for path in files:
        if path not in seen:
            try:
                seen[path] = os.stat(root / path).st_mtime
            except OSError:
                seen[path] = float("inf")
        newest = max(newest, seen[path])
    return newest
