"""The ledger: the state of every run, written down as it changes, in SQLite.

``<project root>/.pyoneer/ledger.db`` (a public location) holds runs, pyoneers,
assignments (pyoneer <-> blueprint, one row per job and one per task attempt) and an
append-only event log, in WAL mode. Changes are group-committed (see ``Ledger``), so
killing the writer at any instant leaves a ledger that opens and reads correctly, and
tells the truth up to its last commit. A file that is not
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
from typing import Any, NamedTuple

from pyoneer.errors import LedgerError
from pyoneer.ledger.batching import grouped as _grouped
from pyoneer.ledger.batching import runs_of as _runs_of
from pyoneer.ledger.batching import update_blueprint as _update_blueprint
from pyoneer.ledger.schema import APPLICATION as _APPLICATION
from pyoneer.ledger.schema import DDL as _DDL
from pyoneer.ledger.schema import SCHEMA_VERSION
from pyoneer.ledger.schema import keep_a_copy as _keep_a_copy
from pyoneer.ledger.schema import migrate as _migrate
from pyoneer.ledger.sqlite import configure as _configure
from pyoneer.ledger.sqlite import connect as _connect
from pyoneer.ledger.sqlite import machine_faults as _machine
from pyoneer.ledger.sqlite import of_the_machine as _of_the_machine
from pyoneer.ledger.workspace import prepare_workspace, workspace_of
from pyoneer.machine.proctree import is_running, started_at
from pyoneer.pyoneers.pyoneer import HOST
from pyoneer.status import OPEN_STATUSES, BlueprintStatus, PyoneerStatus, RunState

LEDGER_FILE = "ledger.db"
#: the columns of a job's row that a project's row (or a job without records) leaves empty
_NO_RECORDS = {"fingerprint": None, "reused": 0, "started": None, "matrix": None, "why": None, "reused_from": None,
               "parts": None, "modules": None, "needs": None}

_INSERT_EVENT = "INSERT INTO events (run_id, at, subject, change, detail) VALUES (?, ?, ?, ?, ?)"


def ledger_path(root: Path) -> Path:
    """Where the ledger of the project rooted at ``root`` lives."""
    return workspace_of(root) / LEDGER_FILE


@dataclass(frozen=True)
class RunRow:
    """One run as the ledger has it (a plain record: reading it does no I/O)."""

    id: str
    project: str
    started: float
    ended: float | None
    result: RunState
    pid: int
    pid_started: str
    host: str
    resumed_from: str | None


def interrupted(run: RunRow) -> bool:
    """True for a run the ledger still calls running whose manager is gone.

    The one place that decides it: ``pyoneer status`` and ``runs`` show such a run as
    interrupted, and the next ``pyoneer run`` writes it down so (``close_dead_runs``). A
    run of another host cannot be looked at from here; the ledger is believed.
    """
    if run.result is not RunState.RUNNING or run.host != HOST:
        return False
    return not (started_at(run.pid) == run.pid_started and is_running(run.pid))


def standing(run: RunRow) -> RunState:
    """How ``run`` truly stands: what the ledger says, unless its manager died meanwhile."""
    return RunState.INTERRUPTED if interrupted(run) else run.result


_OPEN = tuple(status.value for status in OPEN_STATUSES)


class Ledger:
    """One connection to a project's ledger; use from one thread at a time.

    One write path, group commit: every write method only notes its change, and
    ``commit`` writes everything noted since the last commit in one transaction (the
    manager commits at the end of each of its steps, through the recorder). Changes of
    one pyoneer or one blueprint within a commit are merged into one row update; events
    are one row each, in the order they happened. Errors of the machine (disk full,
    read-only, permission) become ``MachineError`` naming the ledger file.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, schema: int = SCHEMA_VERSION) -> None:
        self.path = path
        #: the schema of the file (older only when it was opened without ``upgrade``)
        self.schema = schema
        self._db = connection
        # the columns an older file lacks read as NULL (a ledger opened as it is)
        self._columns = {row[1] for row in connection.execute("PRAGMA table_info(assignments)")}
        # statements to run first at commit, in order (rows that later updates rely on)
        self._statements: list[tuple[str, tuple[Any, ...] | dict[str, Any]]] = []
        # the latest state of each pyoneer and blueprint changed since the last commit:
        # a job that goes ready, running and succeeded within one step is one UPDATE
        self._pyoneers: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._blueprints: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._events: list[tuple[str, float, str, str, str | None]] = []

    # Opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, create: bool = True, upgrade: bool = True, readonly: bool = False) -> Ledger:
        """The ledger of the project at ``root``; made if missing and ``create`` is true.

        An older ledger is upgraded in place (a copy of it kept beside it); without
        ``upgrade`` it is only read, as it is (``--dry-run`` writes nothing). A
        ``readonly`` connection cannot write at all (the web view), whatever its schema."""
        if readonly:
            create, upgrade = False, False
        path = ledger_path(root)
        if not path.exists():
            if not create:
                raise LedgerError(
                    f"no runs yet: {path} does not exist", hint=f"run the project first: pyoneer run {root}"
                )
            prepare_workspace(root)
            with _machine(path, "create the ledger"):
                return cls._create(path)
        with _machine(path, "open the ledger"):
            return cls._existing(path, upgrade, readonly)

    @classmethod
    def _create(cls, path: Path) -> Ledger:
        partial = path.with_name(f"{path.name}.{os.getpid()}.new")
        partial.unlink(missing_ok=True)
        db = _connect(partial)
        try:
            # The file is this process's own until it is linked in below: no journal and no
            # disk syncs while it is made (SQLite's would be six; ~3 ms here, more on a
            # laptop's disk), the schema in one transaction, WAL from then on, and one
            # fsync of the whole before it appears.
            db.execute("PRAGMA synchronous = OFF")
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("BEGIN")
            for statement in _DDL:
                db.execute(statement)
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("application", _APPLICATION), ("schema", str(SCHEMA_VERSION))],
            )
            db.commit()
            db.execute("PRAGMA journal_mode = WAL")
        finally:
            db.close()
        try:
            descriptor = os.open(partial, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            # appear whole or not at all; if another process made one meanwhile, theirs stays
            with contextlib.suppress(FileExistsError):
                os.link(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return cls._existing(path)

    @classmethod
    def _existing(cls, path: Path, upgrade: bool = True, readonly: bool = False) -> Ledger:
        if readonly:  # SQLite itself refuses every write on this connection
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        else:
            db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        try:
            _configure(db)
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            db.close()
            if _of_the_machine(exc):
                raise
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
        if not schema.isdigit() or int(schema) > SCHEMA_VERSION:
            db.close()
            raise LedgerError(
                f"{path} has ledger schema {schema}; this Pyoneer reads schema {SCHEMA_VERSION}",
                hint="use the Pyoneer that wrote it, or move the file away to start afresh",
            )
        if not upgrade:
            return cls(path, db, int(schema))
        db.execute("PRAGMA journal_mode=WAL")
        if int(schema) < SCHEMA_VERSION:
            try:
                _keep_a_copy(db, path.with_name(f"{path.name}.schema-{schema}.backup"))
                _migrate(db)
            except BaseException:
                db.close()
                raise
        return cls(path, db)

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection: for the ledger package's own modules (``journal``,
        ``submissions``), which write through ``writing``."""
        return self._db

    @contextlib.contextmanager
    def writing(self, doing: str = "write the ledger") -> Iterator[sqlite3.Connection]:
        """One transaction on the connection, committed at the end (rolled back on error),
        with the machine's faults told as ``MachineError``."""
        with _machine(self.path, doing), self._db:
            yield self._db

    def close(self) -> None:
        """Close the connection (what was not committed is dropped)."""
        self._db.close()

    def commit(self) -> None:
        """Write down, in one transaction, every change noted since the last commit."""
        statements, self._statements = self._statements, []
        pyoneers, self._pyoneers = list(self._pyoneers.values()), {}
        blueprints, self._blueprints = self._blueprints, {}
        events, self._events = self._events, []
        if not (statements or pyoneers or blueprints or events):
            return
        with _machine(self.path, "write the ledger"), self._db:  # commits, or rolls back on error
            for statement, rows in _runs_of(statements):  # a run's first rows: one executemany
                self._db.executemany(statement, rows)
            if pyoneers:
                self._db.executemany(_UPSERT_PYONEER, pyoneers)
            for columns, rows in _grouped(blueprints).items():
                self._db.executemany(_update_blueprint(columns), rows)
            if events:
                self._db.executemany(_INSERT_EVENT, events)

    # Writing (noted now, written by ``commit``) ------------------------------------

    def begin_run(
        self, run_id: str, project: str, pid: int, pid_started: str, host: str, resumed_from: str | None
    ) -> None:
        """Note that a run started."""
        self._statements.append((
            "INSERT INTO runs (id, project, started, result, pid, pid_started, host, resumed_from)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, project, time.time(), RunState.RUNNING.value, pid, pid_started, host, resumed_from),
        ))
        self._event(run_id, project, RunState.RUNNING.value)

    def end_run(self, run_id: str, result: RunState) -> None:
        """Note how a run ended, and commit."""
        self._statements.append(
            ("UPDATE runs SET ended = ?, result = ? WHERE id = ?", (time.time(), result.value, run_id))
        )
        self._event(run_id, "run", result.value)
        self.commit()

    def mark_interrupted(
        self, run_id: str, result: RunState = RunState.INTERRUPTED, detail: str = "its manager was gone"
    ) -> None:
        """Note that a run's manager died without ending it: what was open is closed.

        ``result``: ``LOST`` for a submitted run whose cluster took its manager with it.
        """
        last = self.last_change(run_id)
        marks = ", ".join("?" for _ in _OPEN)
        self._statements += [
            (
                "UPDATE runs SET result = ?, ended = COALESCE(ended, ?) WHERE id = ? AND result = ?",
                (result.value, last, run_id, RunState.RUNNING.value),
            ),
            (
                "UPDATE assignments SET status = ?, ended = COALESCE(ended, ?)"
                f" WHERE run_id = ? AND status IN ({marks})",
                (BlueprintStatus.CANCELLED.value, last, run_id, *_OPEN),
            ),
            (
                "UPDATE pyoneers SET status = ? WHERE run_id = ? AND status != ?",
                (PyoneerStatus.LOST.value, run_id, PyoneerStatus.STOPPED.value),
            ),
        ]
        self._event(run_id, "run", result.value, detail)

    def close_dead_runs(self) -> list[str]:
        """Write down every run whose manager is gone, but which says running, as interrupted."""
        dead = [run.id for run in self.runs() if interrupted(run)]
        for run_id in dead:
            self.mark_interrupted(run_id)
        self.commit()
        return dead

    def note(self, run_id: str, subject: str, change: str, detail: str | None = None) -> None:
        """Note an event that changes no status."""
        self._event(run_id, subject, change, detail)

    def set_pyoneer(
        self, run_id: str, pyoneer: str, role: str, host: str, pid: int | None, status: str, allocation: str = ""
    ) -> None:
        """Note a pyoneer's status (the manager's hot path: no I/O until ``commit``).

        ``allocation``: where a cluster placed it (a Slurm job id), if it did."""
        self._pyoneers[(run_id, pyoneer)] = (run_id, pyoneer, role, host, pid, status, allocation or None)
        self._events.append((run_id, time.time(), pyoneer, status, None))

    def add_blueprints(self, run_id: str, rows: list[dict[str, Any]]) -> None:
        """Note the project and its jobs, as the run begins."""
        for row in rows:
            self._statements.append((
                "INSERT INTO assignments (run_id, kind, name, attempt, pyoneer, fingerprint, status,"
                " reused, started, position, matrix, why, reused_from, parts, modules, needs)"
                " VALUES (:run_id, :kind, :name, 0, :pyoneer, :fingerprint,"
                " :status, :reused, :started, :position, :matrix, :why, :reused_from, :parts, :modules, :needs)",
                {"run_id": run_id, **_NO_RECORDS, **row},
            ))

    def set_blueprint(self, run_id: str, kind: str, name: str, status: str, **values: Any) -> None:
        """Note a blueprint's new status (and its holder, times, ... when given)."""
        self._blueprints.setdefault((run_id, kind, name), {}).update(values, status=status)
        self._events.append((run_id, time.time(), name, status, values.get("pyoneer")))

    def start_attempt(
        self, run_id: str, name: str, attempt: int, pyoneer: str, started: float, log: str, position: int
    ) -> None:
        """Note that an attempt of a task (``job/task``) started."""
        self._statements.append((
            "INSERT OR REPLACE INTO assignments (run_id, kind, name, attempt, pyoneer, status,"
            " started, log, position) VALUES (?, 'task', ?, ?, ?, ?, ?, ?, ?)",
            (run_id, name, attempt, pyoneer, BlueprintStatus.RUNNING.value, started, log, position),
        ))
        self._event(run_id, name, BlueprintStatus.RUNNING.value, f"attempt {attempt}")

    def end_attempt(
        self, run_id: str, name: str, attempt: int, status: str, ended: float, exit_code: int | None, reason: str
    ) -> None:
        """Note how an attempt of a task ended."""
        self._statements.append((
            "UPDATE assignments SET status = ?, ended = ?, exit_code = ?, reason = ?"
            " WHERE run_id = ? AND kind = 'task' AND name = ? AND attempt = ?",
            (status, ended, exit_code, reason, run_id, name, attempt),
        ))
        self._event(run_id, name, status, reason or f"attempt {attempt}")

    def _event(self, run_id: str, subject: str, change: str, detail: str | None = None) -> None:
        self._events.append((run_id, time.time(), subject, change, detail))

    # Reading -----------------------------------------------------------------------

    def data_version(self) -> int:
        """A number that changes whenever another connection commits (SQLite's own, cheap:
        what a reader polls to see that a run moved on)."""
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        rows = self._db.execute(
            "SELECT id, project, started, ended, result, pid, pid_started, host, resumed_from"
            " FROM runs ORDER BY started, id"
        ).fetchall()
        return [RunRow(run_id, project, started, ended, RunState(result), *rest)
                for run_id, project, started, ended, result, *rest in rows]

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
            " COALESCE(p.host, r.host) AS host, "
            + ", ".join(f"a.{name}" if name in self._columns else f"NULL AS {name}"
                        for name in ("matrix", "why", "reused_from", "needs", "retry_at"))
            + " FROM assignments a JOIN runs r ON r.id = a.run_id"
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
            f"SELECT id, role, host, pid, status, {'allocation' if self.schema >= 5 else 'NULL AS allocation'}"
            " FROM pyoneers WHERE run_id = ? ORDER BY rowid", (run_id,)
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

    def member_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """For every run and each of its matrices: how many members ended each way."""
        counts: dict[str, dict[str, dict[str, int]]] = {}
        rows = self._db.execute(
            "SELECT run_id, substr(name, 1, instr(name, '[') - 1), CASE WHEN reused THEN 'reused' ELSE status END,"
            " COUNT(*) FROM assignments WHERE kind = 'job' AND matrix IS NOT NULL GROUP BY 1, 2, 3"
            " ORDER BY run_id, MIN(position)"
        ).fetchall()
        for run_id, group, status, count in rows:
            counts.setdefault(run_id, {}).setdefault(group, {})[status] = count
        return counts

    def successes(self) -> dict[str, Success]:
        """Each job's latest real success (it ran, not reused), in any run: what ``--resume``
        compares the project with. A success from before schema 3 has no ``parts``.

        One pass over the job rows of every run (~0.09 s for 100,000 of them here): an index
        would be kept up at every change of a job's status, in every run (~10-20 us a job).
        The latest is the highest rowid: rowids only grow (the ledger is never vacuumed)."""
        records = "a.parts, a.modules, a.inputs, a.outputs" if self.schema >= 3 else "NULL, NULL, NULL, NULL"
        records += ", a.upstream" if self.schema >= 6 else ", NULL"
        rows = self._db.execute(
            f"SELECT a.name, a.run_id, r.started, a.fingerprint, {records}"
            " FROM assignments a JOIN runs r ON r.id = a.run_id"
            " WHERE a.rowid IN (SELECT MAX(rowid) FROM assignments"
            " WHERE kind = 'job' AND status = 'succeeded' AND reused = 0 GROUP BY name)"
        ).fetchall()
        # a job that started again after its success and did not succeed may have left its
        # files half made: it runs again (SQLite gives the other columns of the MAX row)
        tries = self._db.execute(
            "SELECT name, run_id, status, MAX(rowid) FROM assignments"
            " WHERE kind = 'job' AND started IS NOT NULL AND reused = 0 GROUP BY name"
        ).fetchall()
        failed = {name: (run_id, status) for name, run_id, status, _ in tries if status != "succeeded"}
        return {name: Success(name, *rest[:-1], failed_since=failed.get(name), upstream=rest[-1])
                for name, *rest in rows}


class Success(NamedTuple):
    """A job's success as the ledger keeps it: the run, and what the job was made of then
    (JSON texts, decoded by whoever compares them)."""

    job: str
    run_id: str
    run_started: float
    fingerprint: str | None
    parts: str | None
    modules: str | None
    inputs: str | None
    outputs: str | None
    #: a later try that did not succeed: its run and how it ended (failed, cancelled)
    failed_since: tuple[str, str] | None = None
    #: the declared outputs of the jobs it needed, as it started (JSON; None before schema 6)
    upstream: str | None = None


_UPSERT_PYONEER = (
    "INSERT INTO pyoneers (run_id, id, role, host, pid, status, allocation) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, id) DO UPDATE SET status = excluded.status, pid = excluded.pid,"
    " host = excluded.host, allocation = excluded.allocation"
)
