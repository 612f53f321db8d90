"""The ledger's tables, and how a ledger of an older schema is brought to this one.

The DDL is kept as constants; ``migrate`` runs the statements of every schema between
a file's and this one's, in one transaction, after ``keep_a_copy`` has kept the file as
it was beside it. ``--json`` shapes only grow: a migration only adds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: the schema this Pyoneer writes; bump it (and add its migration) when the tables change
SCHEMA_VERSION = 9
APPLICATION = "pyoneer-ledger"

#: runs submitted to a cluster (``pyoneer submit``): where, and how much of each this
#: ledger, their mirror, has heard (``heard``: the number of the last line applied)
SUBMISSIONS = """CREATE TABLE submissions (
        id TEXT PRIMARY KEY,            -- the Ray job's submission id
        run_id TEXT NOT NULL,           -- the run it is (its rows arrive as they are heard)
        address TEXT NOT NULL,          -- the cluster's job server
        home TEXT NOT NULL,             -- the project's directory of its own on the cluster
        submitted REAL NOT NULL,
        options TEXT NOT NULL,          -- the run's options (JSON)
        heard INTEGER NOT NULL DEFAULT 0,
        state TEXT,                     -- the Ray job's status when last asked
        asked REAL)"""                  # when the cluster last answered

#: what each job's warm tasks imported from outside the project (see ``learned``)
LEARNED = """CREATE TABLE learned (
        job TEXT NOT NULL,
        module TEXT NOT NULL,
        position INTEGER NOT NULL,      -- the order first imported in, over the job's runs
        cost_us INTEGER NOT NULL,       -- what its import cost, measured in the task
        verdict TEXT,                   -- why it is never preloaded (NULL: it may be)
        PRIMARY KEY (job, module))"""
#: the run whose task first said it imported the module (NULL: learned before schema 9)
LEARNED_RUN = "ALTER TABLE learned ADD COLUMN run_id TEXT"

DDL = (
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
        allocation TEXT,                -- where a cluster placed it (a Slurm job id)
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
        matrix TEXT,                    -- a matrix member's values (JSON); since schema 2
        why TEXT,                       -- why a job ran or was reused (--resume, targets); since 3
        reused_from TEXT,               -- the run whose success a reused job stands on; since 3
        parts TEXT,                     -- what the job's fingerprint is made of (JSON); since 3
        modules TEXT,                   -- project modules its scripts import, with their states; since 3
        inputs TEXT,                    -- its declared inputs' states as it started (JSON); since 3
        outputs TEXT,                   -- its declared outputs' states as it succeeded (JSON); since 3
        needs TEXT,                     -- the jobs it needs in this run (JSON list); since 3
        upstream TEXT,                  -- the declared outputs of the jobs it needs, as it started
                                        -- (JSON: job -> {path: state}); since 6
        retry_at REAL,                  -- when a job that waits to retry a task tries it again; since 8
        PRIMARY KEY (run_id, kind, name, attempt))""",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,        -- append-only, so rowids only grow
        run_id TEXT NOT NULL REFERENCES runs(id),
        at REAL NOT NULL,
        subject TEXT NOT NULL,
        change TEXT NOT NULL,
        detail TEXT)""",
    "CREATE INDEX events_by_run ON events (run_id, seq)",
    SUBMISSIONS,
    LEARNED,
    LEARNED_RUN,
)


#: what takes a ledger of each older schema to the next one, in place
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE assignments ADD COLUMN matrix TEXT",),
    # its successes keep no parts: --resume reruns them once ("recorded before imports were tracked")
    2: tuple(f"ALTER TABLE assignments ADD COLUMN {column} TEXT"
             for column in ("why", "reused_from", "parts", "modules", "inputs", "outputs", "needs")),
    3: (SUBMISSIONS,),
    4: ("ALTER TABLE pyoneers ADD COLUMN allocation TEXT",),
    # its successes keep no upstream outputs: a rerun upstream reruns them once (make's rule)
    5: ("ALTER TABLE assignments ADD COLUMN upstream TEXT",),
    6: (LEARNED,),
    7: ("ALTER TABLE assignments ADD COLUMN retry_at REAL",),
    # what was learned before keeps no run: the web view says "an earlier run"
    8: (LEARNED_RUN,),
}


def keep_a_copy(db: sqlite3.Connection, backup: Path) -> None:
    """Keep the ledger as it was, beside it, before it is migrated (a consistent copy)."""
    if not backup.exists():
        db.execute("VACUUM INTO ?", (str(backup),))


def migrate(db: sqlite3.Connection) -> None:
    """Bring an older ledger to this schema, in place, in one transaction (no row is lost)."""
    db.execute("BEGIN IMMEDIATE")  # and look again: another process may have done it meanwhile
    try:
        (schema,) = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        for version in range(int(schema), SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                db.execute(statement)
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
    except BaseException:
        db.rollback()
        raise
    db.commit()
