"""The ledger: the state of every run, written down as it changes, in SQLite.

``<project root>/.pyoneer/ledger.db`` (a public location) holds runs, pyoneers,
assignments (pyoneer <-> blueprint, one row per job and one per task attempt) and an
append-only event log. Each change is its own transaction, in WAL mode, so killing the
writer at any instant leaves a ledger that opens and reads correctly. A file that is not
a Pyoneer ledger, or one written by a newer Pyoneer, is refused and never touched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyoneer.errors import LedgerError
from pyoneer.machine.proctree import is_running, started_at
from pyoneer.pyoneers.pyoneer import HOST

LEDGER_FILE = "ledger.db"
#: the schema this Pyoneer writes; bump it (and migrate) when the tables change
SCHEMA_VERSION = 1
_APPLICATION = "pyoneer-ledger"

_DDL = (
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL,
        result TEXT NOT NULL,           -- running | succeeded | failed | interrupted
        pid INTEGER NOT NULL,           -- the manager's process
        pid_started TEXT NOT NULL,      -- its start time, to tell it from a reused pid
        host TEXT NOT NULL,
        resumed_from TEXT)""",
    """CREATE TABLE pyoneers (
        run_id TEXT NOT NULL REFERENCES runs(id),
        id TEXT NOT NULL,
        role TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER,
        status TEXT NOT NULL,
        PRIMARY KEY (run_id, id))""",
    """CREATE TABLE assignments (
        run_id TEXT NOT NULL REFERENCES runs(id),
        kind TEXT NOT NULL,             -- project | job | task
        name TEXT NOT NULL,             -- project name, job name, or job/task
        attempt INTEGER NOT NULL,       -- 0 for projects and jobs
        pyoneer TEXT NOT NULL,          -- '' while no pyoneer holds it
        fingerprint TEXT,
        status TEXT NOT NULL,
        reused INTEGER NOT NULL DEFAULT 0,
        started REAL,
        ended REAL,
        exit_code INTEGER,
        reason TEXT,
        log TEXT,
        position INTEGER NOT NULL,      -- order of declaration, for display
        PRIMARY KEY (run_id, kind, name, attempt))""",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,        -- append-only, so rowids only grow
        run_id TEXT NOT NULL REFERENCES runs(id),
        at REAL NOT NULL,
        subject TEXT NOT NULL,
        change TEXT NOT NULL,
        detail TEXT)""",
    "CREATE INDEX events_by_run ON events (run_id, seq)",
)


_INSERT_EVENT = "INSERT INTO events (run_id, at, subject, change, detail) VALUES (?, ?, ?, ?, ?)"


def ledger_path(root: Path) -> Path:
    """Where the ledger of the project rooted at ``root`` lives."""
    return root / ".pyoneer" / LEDGER_FILE


@dataclass(frozen=True)
class RunRow:
    """One run as the ledger has it."""

    id: str
    project: str
    started: float
    ended: float | None
    result: str
    pid: int
    pid_started: str
    host: str
    resumed_from: str | None

    def manager_alive(self) -> bool:
        """True if the process that ran this run is still there (same host, same process)."""
        if self.host != HOST:
            return self.result == "running"  # cannot tell from here; believe the ledger
        return started_at(self.pid) == self.pid_started and is_running(self.pid)

    @property
    def state(self) -> str:
        """The run's result as it truly stands: a run whose manager died is interrupted."""
        if self.result == "running" and not self.manager_alive():
            return "interrupted"
        return self.result


class Ledger:
    """One connection to a project's ledger; use from one thread at a time."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        #: while true, writes wait for ``commit`` (the manager's settle)
        self.deferred = False
        self._events: list[tuple[str, float, str, str, str | None]] = []
        # the latest state of each pyoneer and blueprint changed since the last commit:
        # a job that goes ready, running and succeeded within one step is one UPDATE
        self._pyoneers: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._blueprints: dict[tuple[str, str, str], dict[str, Any]] = {}

    # Opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, create: bool = True) -> Ledger:
        """The ledger of the project at ``root``; made if missing and ``create`` is true."""
        path = ledger_path(root)
        if not path.exists():
            if not create:
                raise LedgerError(
                    f"no runs yet: {path} does not exist", hint=f"run the project first: pyoneer run {root}"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            return cls._create(path)
        return cls._existing(path)

    @classmethod
    def _create(cls, path: Path) -> Ledger:
        partial = path.with_name(f"{path.name}.{os.getpid()}.new")
        partial.unlink(missing_ok=True)
        db = _connect(partial)
        # WAL from birth, and the schema in one transaction: each statement on its own
        # would be a commit, and a disk sync, of its own (~0.1 s in all)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN")
        for statement in _DDL:
            db.execute(statement)
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("application", _APPLICATION), ("schema", str(SCHEMA_VERSION))],
        )
        db.commit()
        db.close()
        # appear whole or not at all; if another process made one meanwhile, theirs stays
        with contextlib.suppress(FileExistsError):
            os.link(partial, path)
        partial.unlink()
        return cls._existing(path)

    @classmethod
    def _existing(cls, path: Path) -> Ledger:
        db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        try:
            _configure(db)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            db.close()
            raise LedgerError(
                f"{path} is not a Pyoneer ledger ({exc}); it was left untouched",
                hint="move it away and Pyoneer will start a new ledger",
            ) from None
        if meta.get("application") != _APPLICATION:
            db.close()
            raise LedgerError(
                f"{path} is not a Pyoneer ledger; it was left untouched",
                hint="move it away and Pyoneer will start a new ledger",
            )
        schema = meta.get("schema", "?")
        if schema != str(SCHEMA_VERSION):
            db.close()
            raise LedgerError(
                f"{path} has ledger schema {schema}; this Pyoneer reads schema {SCHEMA_VERSION}",
                hint="use the Pyoneer that wrote it, or move the file away to start afresh",
            )
        db.execute("PRAGMA journal_mode=WAL")
        return cls(path, db)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.deferred:
            yield self._db  # part of the step's transaction, committed by ``commit``
            return
        with self._db:
            yield self._db

    def commit(self) -> None:
        """Write down, in one transaction, every change made since the last commit."""
        if self._pyoneers:
            self._db.executemany(_UPSERT_PYONEER, list(self._pyoneers.values()))
            self._pyoneers.clear()
        if self._blueprints:
            self._write_blueprints()
        if self._events:
            self._db.executemany(_INSERT_EVENT, self._events)
            self._events.clear()
        self._db.commit()

    def _write_blueprints(self) -> None:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for (run_id, kind, name), values in self._blueprints.items():
            row = {"run_id": run_id, "kind": kind, "name": name, **values}
            by_columns.setdefault(tuple(sorted(values)), []).append(row)
        self._blueprints.clear()
        for columns, rows in by_columns.items():
            self._db.executemany(_update_blueprint(columns), rows)

    # Writing -----------------------------------------------------------------------

    def begin_run(
        self, run_id: str, project: str, pid: int, pid_started: str, host: str, resumed_from: str | None
    ) -> None:
        """Record that a run started."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (id, project, started, result, pid, pid_started, host, resumed_from)"
                " VALUES (?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, project, time.time(), pid, pid_started, host, resumed_from),
            )
            self._event(db, run_id, project, "running")

    def end_run(self, run_id: str, result: str) -> None:
        """Record how a run ended."""
        with self._transaction() as db:
            db.execute("UPDATE runs SET ended = ?, result = ? WHERE id = ?", (time.time(), result, run_id))
            self._event(db, run_id, "run", result)
        self.commit()

    def mark_interrupted(self, run_id: str) -> None:
        """Record that a run's manager died without ending it: what was open is closed."""
        last = self.last_change(run_id)
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET result = 'interrupted', ended = COALESCE(ended, ?)"
                " WHERE id = ? AND result = 'running'",
                (last, run_id),
            )
            db.execute(
                "UPDATE assignments SET status = 'cancelled', ended = COALESCE(ended, ?) WHERE run_id = ?"
                " AND status IN ('not_ready', 'ready', 'running')",
                (last, run_id),
            )
            db.execute(
                "UPDATE pyoneers SET status = 'lost' WHERE run_id = ? AND status != 'stopped'", (run_id,)
            )
            self._event(db, run_id, "run", "interrupted", "its manager was gone")

    def close_dead_runs(self) -> list[str]:
        """Mark every run whose manager is gone, but which says running, as interrupted."""
        dead = [run.id for run in self.runs() if run.result == "running" and not run.manager_alive()]
        for run_id in dead:
            self.mark_interrupted(run_id)
        return dead

    def note(self, run_id: str, subject: str, change: str, detail: str | None = None) -> None:
        """Append an event that changes no status."""
        with self._transaction() as db:
            self._event(db, run_id, subject, change, detail)

    def set_pyoneer(self, run_id: str, pyoneer: str, role: str, host: str, pid: int | None, status: str) -> None:
        """Record a pyoneer's status."""
        row = (run_id, pyoneer, role, host, pid, status)
        if self.deferred:  # (the manager's hot path: no transaction to open)
            self._pyoneers[(run_id, pyoneer)] = row  # its latest, written at commit
            self._events.append((run_id, time.time(), pyoneer, status, None))
            return
        with self._transaction() as db:
            db.execute(_UPSERT_PYONEER, row)
            self._event(db, run_id, pyoneer, status)

    def add_blueprints(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Record the project and its jobs, as the run begins."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO assignments (run_id, kind, name, attempt, pyoneer, fingerprint, status,"
                " reused, started, position) VALUES (:run_id, :kind, :name, 0, :pyoneer, :fingerprint,"
                " :status, :reused, :started, :position)",
                [{"run_id": run_id, "reused": 0, "started": None, **row} for row in rows],
            )

    def set_blueprint(self, run_id: str, kind: str, name: str, status: str, **values: Any) -> None:
        """Record a blueprint's new status (and its holder, times, ... when given)."""
        if self.deferred:  # merged with its other changes of this step, written at commit
            self._blueprints.setdefault((run_id, kind, name), {}).update(values, status=status)
            self._events.append((run_id, time.time(), name, status, values.get("pyoneer")))
            return
        with self._transaction() as db:
            db.execute(
                _update_blueprint(tuple(sorted({*values, "status"}))),
                {"run_id": run_id, "kind": kind, "name": name, "status": status, **values},
            )
            self._event(db, run_id, name, status, values.get("pyoneer"))

    def start_attempt(
        self, run_id: str, name: str, attempt: int, pyoneer: str, started: float, log: str, position: int
    ) -> None:
        """Record that an attempt of a task (``job/task``) started."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO assignments (run_id, kind, name, attempt, pyoneer, status,"
                " started, log, position) VALUES (?, 'task', ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, name, attempt, pyoneer, started, log, position),
            )
            self._event(db, run_id, name, "running", f"attempt {attempt}")

    def end_attempt(
        self, run_id: str, name: str, attempt: int, status: str, ended: float, exit_code: int | None, reason: str
    ) -> None:
        """Record how an attempt of a task ended."""
        with self._transaction() as db:
            db.execute(
                "UPDATE assignments SET status = ?, ended = ?, exit_code = ?, reason = ?"
                " WHERE run_id = ? AND kind = 'task' AND name = ? AND attempt = ?",
                (status, ended, exit_code, reason, run_id, name, attempt),
            )
            self._event(db, run_id, name, status, reason or f"attempt {attempt}")

    def _event(self, db: sqlite3.Connection, run_id: str, subject: str, change: str, detail: str | None = None) -> None:
        row = (run_id, time.time(), subject, change, detail)
        if self.deferred:
            self._events.append(row)  # inserted together at commit
        else:
            db.execute(_INSERT_EVENT, row)

    # Reading -----------------------------------------------------------------------

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        rows = self._db.execute(
            "SELECT id, project, started, ended, result, pid, pid_started, host, resumed_from"
            " FROM runs ORDER BY started, id"
        ).fetchall()
        return [RunRow(*row) for row in rows]

    def run(self, run_id: str | None = None) -> RunRow:
        """The run called ``run_id``, or the latest; raises ``LedgerError`` if there is none."""
        runs = self.runs()
        if not runs:
            raise LedgerError(f"no runs yet in {self.path}")
        if run_id is None:
            return runs[-1]
        matches = [run for run in runs if run.id == run_id or run.id.startswith(run_id)]
        if len(matches) != 1:
            known = ", ".join(run.id for run in runs[-5:])
            what = "no run" if not matches else "more than one run"
            raise LedgerError(f"{what} matches {run_id!r}", hint=f"latest runs: {known}")
        return matches[0]

    def assignments(self, run_id: str) -> list[dict[str, Any]]:
        """The run's assignments (project, jobs, task attempts) in display order."""
        cursor = self._db.execute(
            "SELECT a.kind, a.name, a.attempt, a.pyoneer, p.status AS pyoneer_status, a.fingerprint,"
            " a.status, a.reused, a.started, a.ended, a.exit_code, a.reason, a.log,"
            " COALESCE(p.host, r.host) AS host"
            " FROM assignments a JOIN runs r ON r.id = a.run_id"
            " LEFT JOIN pyoneers p ON p.run_id = a.run_id AND p.id = a.pyoneer"
            " WHERE a.run_id = ?"
            # the project, then each job followed by its task attempts
            " ORDER BY a.kind != 'project', a.position, a.kind != 'job', a.started, a.name, a.attempt",
            (run_id,),
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def pyoneers(self, run_id: str) -> list[dict[str, Any]]:
        """The run's pyoneers and their last status."""
        cursor = self._db.execute(
            "SELECT id, role, host, pid, status FROM pyoneers WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events, in order."""
        cursor = self._db.execute(
            "SELECT seq, at, subject, change, detail FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def last_change(self, run_id: str) -> float | None:
        """When the run's last event was written: the end of a run whose manager died."""
        row = self._db.execute("SELECT MAX(at) FROM events WHERE run_id = ?", (run_id,)).fetchone()
        return row[0] if row else None

    def job_counts(self) -> dict[str, dict[str, int]]:
        """For every run: how many of its jobs ended each way (``reused`` counted apart)."""
        counts: dict[str, dict[str, int]] = {}
        rows = self._db.execute(
            "SELECT run_id, CASE WHEN reused THEN 'reused' ELSE status END, COUNT(*)"
            " FROM assignments WHERE kind = 'job' GROUP BY 1, 2"
        ).fetchall()
        for run_id, status, count in rows:
            counts.setdefault(run_id, {})[status] = count
        return counts

    def succeeded_jobs(self, run_id: str) -> dict[str, str]:
        """Jobs that succeeded (ran or reused) in ``run_id``: name -> fingerprint."""
        rows = self._db.execute(
            "SELECT name, fingerprint FROM assignments"
            " WHERE run_id = ? AND kind = 'job' AND status = 'succeeded'",
            (run_id,),
        ).fetchall()
        return dict(rows)


_UPSERT_PYONEER = (
    "INSERT INTO pyoneers (run_id, id, role, host, pid, status) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, id) DO UPDATE SET status = excluded.status, pid = excluded.pid,"
    " host = excluded.host"
)


def _update_blueprint(columns: tuple[str, ...]) -> str:
    """The UPDATE of a job's or project's row that sets ``columns`` (named parameters)."""
    assigned = ", ".join(f"{column} = :{column}" for column in columns)
    return (
        f"UPDATE assignments SET {assigned}"
        " WHERE run_id = :run_id AND kind = :kind AND name = :name AND attempt = 0"
    )


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10, check_same_thread=False)
    _configure(db)
    return db


def _configure(db: sqlite3.Connection) -> None:
    # These touch the file: a file that is not a database fails here, as DatabaseError.
    db.execute("PRAGMA busy_timeout = 10000")
    db.execute("PRAGMA synchronous = NORMAL")
