"""Preload, learned: what each job's warm tasks imported from outside the project, kept
in the ledger's ``learned`` table, and what its fork server preloads next run.

A warm task says, as it ends, each module it imported itself from outside the project,
in the order first imported, and what that import cost, measured in the task (see
``pyoneer.machine.preloading``). ``note`` keeps the first word on each (a module
preloaded later is no longer imported by the task, so it is not told again: what was
learned stays), and why a fork server refused one (never preloaded again).
``preloads`` says, per job, the modules worth preloading: those that cost at least
``THRESHOLD_US`` and were never refused, in the order first imported. What is learned
changes no fingerprint: it is kept apart from what ``--resume`` compares. Each module
keeps the run that learned it (since schema 9), for the web view's job page (``told``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from pyoneer.blueprints.job import Job
from pyoneer.blueprints.project import Project
from pyoneer.errors import PyoneerError
from pyoneer.ledger.store import Ledger

#: an import that costs at least this (microseconds, in the task) is worth preloading:
#: below it, a fork server's extra modules (and each one's hazards) buy too little
THRESHOLD_US = 20_000


def note(ledger: Ledger, job: str, imported: Iterable[tuple[str, int]], refused: Iterable[tuple[str, str]]) -> None:
    """Keep what a warm task of ``job`` imported (module, microseconds), and the modules
    its fork server refused to preload, with why; writes only what is new."""
    db = ledger.connection
    known = {module: verdict for module, verdict in db.execute(
        "SELECT module, verdict FROM learned WHERE job = ?", (job,))}
    rows = []
    position = len(known)
    for module, cost in imported:
        if module not in known:
            known[module] = None
            rows.append((job, module, position, cost))
            position += 1
    verdicts = [(why, job, module) for module, why in refused if known.get(module, "") is None]
    unknown = [(job, module, -1, 0, why) for module, why in refused if module not in known]
    if not (rows or verdicts or unknown):
        return
    run = _running(db)
    with ledger.writing():
        db.executemany("INSERT INTO learned (job, module, position, cost_us, run_id) VALUES (?, ?, ?, ?, ?)",
                       [(*row, run) for row in rows])
        db.executemany("UPDATE learned SET verdict = ? WHERE job = ? AND module = ?", verdicts)
        db.executemany("INSERT OR IGNORE INTO learned (job, module, position, cost_us, verdict, run_id)"
                       " VALUES (?, ?, ?, ?, ?, ?)", [(*row, run) for row in unknown])


def _running(db: sqlite3.Connection) -> str | None:
    """The run this process manages (what a task tells is heard by its run's recorder,
    in the manager's process), or None if there is none."""
    row = db.execute("SELECT id FROM runs WHERE pid = ? AND result = 'running' ORDER BY started DESC LIMIT 1",
                     (os.getpid(),)).fetchone()
    return row[0] if row else None


def preloads(ledger: Ledger, project: Project) -> dict[str, tuple[str, ...]]:
    """Per job of ``project`` that learns (not ``preload = false``), the modules its fork
    server is to preload: costly enough, never refused, in the order first imported.
    What a job's code no longer imports is forgotten first (``pyoneer.ledger.forgetting``)."""
    from pyoneer.ledger.forgetting import forget_stale

    forget_stale(ledger, project)
    on = getattr(project, "learn", True)
    found: dict[str, list[str]] = {}
    for job, module in ledger.connection.execute(
        "SELECT job, module FROM learned WHERE verdict IS NULL AND cost_us >= ? ORDER BY job, position",
        (THRESHOLD_US,),
    ):
        found.setdefault(job, []).append(module)
    sources = _sources(project, set(found))
    return {job.name: tuple(found.get(sources[job.name], ())) for job in project.jobs if on and getattr(job, "learn", True)}


def _sources(project: Project, learned: set[str]) -> dict[str, str]:
    """Per job, the job whose learned modules it takes: its own, else (a matrix member
    that learned nothing itself) those of a member of its matrix running the same
    scripts. A worker clocks one task of a matrix's script (``pyoneer.pyoneers.worker``):
    the members share what it learned."""
    siblings: dict[tuple[str, tuple[str, ...]], str] = {}
    for job in project.jobs:
        if job.name in learned:
            siblings.setdefault(_kin(job), job.name)
    return {job.name: job.name if job.name in learned else siblings.get(_kin(job), job.name) for job in project.jobs}


def _kin(job: Job) -> tuple[str, tuple[str, ...]]:
    return job.group, tuple(task.script for task in job.tasks)


def explain(project: Project) -> dict[str, list[tuple[str, int, str]]]:
    """Per job of ``project``, what the next run's fork server will do with each module
    learned of it (see ``explained``); read-only, and empty where nothing was learned
    (no ledger yet, or one older than learning). A job that learns nothing
    (``preload = false``) says so."""
    try:
        ledger = Ledger.open(project.root, create=False, upgrade=False)  # as preview reads it
    except PyoneerError:
        return {}
    told: dict[str, list[tuple[str, int, str]]] = {}
    with contextlib.closing(ledger):
        for job in project.jobs:
            if not (project.learn and job.learn):
                told[job.name] = [("", 0, "learning off (preload = false)")]
                continue
            try:
                told[job.name] = explained(ledger, job.name)
            except sqlite3.Error:  # a ledger from before learning: nothing learned
                return {}
        sources = _sources(project, {name for name, rows in told.items() if rows})
        told = {name: told[sources[name]] for name in told}  # a member takes what its matrix learned
    return told


def explained(ledger: Ledger, job: str) -> list[tuple[str, int, str]]:
    """Everything learned of ``job``: (module, microseconds, what becomes of it), in the
    order first imported; for ``check --explain``, ``--dry-run`` and the web view."""
    told = []
    for module, cost, verdict in ledger.connection.execute(
        "SELECT module, cost_us, verdict FROM learned WHERE job = ? ORDER BY position", (job,)
    ):
        if verdict:
            told.append((module, cost, f"never preloaded: {verdict}"))
        elif cost >= THRESHOLD_US:
            told.append((module, cost, "preloaded"))
        else:
            told.append((module, cost, f"not preloaded: under {THRESHOLD_US // 1000} ms"))
    return told


def told(ledger: Ledger, job: str, given: Iterable[str] = (), learn: bool = True) -> list[dict[str, Any]]:
    """What the next run's fork server of ``job`` does with each module, for the web
    view's job page: first those ``given`` in ``preload = [...]`` (always preloaded),
    then each learned one (see ``explained``), with what its import cost (microseconds,
    in the task), the run that learned it (None: one from before schema 9), and whether
    it is preloaded. A ledger from before learning has nothing learned; a job that does
    not ``learn`` (``preload = false``) preloads only what is given."""
    rows: list[dict[str, Any]] = [{"module": module, "cost_us": None, "becomes": "preloaded: the project file asks for it",
                                   "preloaded": True, "source": "given", "run": None, "verdict": None}
                                  for module in given]
    if not learn:
        return rows
    learned = []
    for run in ("run_id", "NULL"):  # a ledger of schema 7 or 8, read as it is, keeps no run
        try:
            learned = ledger.connection.execute(
                f"SELECT module, cost_us, verdict, {run} FROM learned WHERE job = ? ORDER BY position", (job,)
            ).fetchall()
            break
        except sqlite3.OperationalError:  # and one from before learning has no table at all
            continue
    if not learned:
        return rows
    becomes = dict((module, what) for module, _, what in explained(ledger, job))
    for module, cost, verdict, run in learned:
        if module in given:
            continue
        preloaded = becomes[module] == "preloaded"
        why = f"preloaded: its import costs {THRESHOLD_US // 1000} ms or more, and no fork server refused it"
        rows.append({"module": module, "cost_us": cost, "becomes": why if preloaded else becomes[module],
                     "preloaded": preloaded, "source": "learned", "run": run, "verdict": verdict})
    return rows
