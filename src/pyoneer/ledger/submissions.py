"""The runs of a project submitted to a cluster, as its ledger (their mirror) keeps them.

``pyoneer submit`` writes one row; later commands (``attach``, ``status``, ``stop``,
``fetch``) find the cluster and the Ray job there, with no address to give again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from pyoneer.errors import LedgerError
from pyoneer.ledger.store import Ledger
from pyoneer.status import RunState

_COLUMNS = "id, run_id, address, home, submitted, options, heard, state, asked"


@dataclass(frozen=True)
class Submission:
    """One run submitted to a cluster: its Ray job, where, and how far its mirror has heard."""

    id: str
    run_id: str
    address: str
    #: the project's directory on the cluster (its key under the cluster's Pyoneer home)
    home: str
    submitted: float
    options: dict[str, Any]
    #: the number of the last line of the run's stream written into the mirror
    heard: int = 0
    #: the Ray job's status when the cluster last answered (``None``: never asked yet)
    state: str | None = None
    asked: float | None = None


def add(ledger: Ledger, submission: Submission) -> None:
    """Write down a new submission."""
    with ledger.writing("write down the submission") as db:
        db.execute(
            f"INSERT INTO submissions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (submission.id, submission.run_id, submission.address, submission.home, submission.submitted,
             json.dumps(submission.options), submission.heard, submission.state, submission.asked),
        )


def listed(ledger: Ledger) -> list[Submission]:
    """Every submission, oldest first (none for a ledger older than submissions)."""
    if ledger.schema < 4:
        return []
    rows = ledger.connection.execute(f"SELECT {_COLUMNS} FROM submissions ORDER BY submitted, id").fetchall()
    return [Submission(*row[:5], json.loads(row[5]), *row[6:]) for row in rows]


def find(ledger: Ledger, run: str | None = None) -> Submission:
    """The submission of run ``run`` (an id or its start), else the latest one."""
    known = listed(ledger)
    if not known:
        raise LedgerError(f"no run of this project was submitted (nothing in {ledger.path})",
                          hint="submit one: pyoneer submit --address http://HEAD:8265")
    if run is None:
        return known[-1]
    matches = [item for item in known if item.run_id.startswith(run) or item.id == run]
    if len(matches) != 1:
        what = "no submitted run" if not matches else "more than one submitted run"
        raise LedgerError(f"{what} matches {run!r}",
                          hint="submitted runs: " + ", ".join(item.run_id for item in known[-5:]))
    return matches[0]


def home_of(ledger: Ledger) -> str | None:
    """The project's directory on the cluster, if a run of it was submitted before."""
    known = listed(ledger)
    return known[-1].home if known else None


def note_state(ledger: Ledger, submission: str, state: str) -> None:
    """Write down what the cluster said of the Ray job, and when."""
    with ledger.writing("write down the submission's state") as db:
        db.execute("UPDATE submissions SET state = ?, asked = ? WHERE id = ?", (state, time.time(), submission))


def mark_lost(ledger: Ledger, run_id: str, why: str) -> None:
    """The run's manager went with its cluster: what its mirror says is open is closed, as lost."""
    ledger.mark_interrupted(run_id, RunState.LOST, why)
    ledger.commit()


def outputs(ledger: Ledger, run_id: str) -> dict[str, list[Any]]:
    """The declared outputs the run's succeeded jobs left (path -> size, mtime_ns, sha256);
    a reused job's are those of the run it stands on."""
    db = ledger.connection
    found: dict[str, list[Any]] = {}
    rows = db.execute(
        "SELECT outputs, reused_from, name FROM assignments WHERE run_id = ? AND kind = 'job' AND status = 'succeeded'",
        (run_id,),
    ).fetchall()
    for recorded, origin, name in rows:
        if recorded is None and origin:
            kept = db.execute(
                "SELECT outputs FROM assignments WHERE run_id = ? AND kind = 'job' AND name = ?", (origin, name)
            ).fetchone()
            recorded = kept[0] if kept else None
        found.update(json.loads(recorded or "{}"))
    return found
