"""A ledger's changes as rows, for a mirror elsewhere: what a submitted run sends home.

On the cluster, a ``Journal`` watches the run's own ledger: SQLite triggers of its
connection (temporary: nothing is added to the file) note each row written, and
``changes`` hands over the rows written since it was last asked, whole, in an order
that a mirror can apply (runs, pyoneers, assignments, events). On the user's machine,
``apply`` writes such rows into the mirror's ledger: the row as the cluster has it
replaces the mirror's, and events are appended, in one transaction with the number of
the last line heard, so that no change is applied twice or lost.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from pyoneer.ledger.store import Ledger

#: the tables a run writes, in the order a mirror applies them (a row before those naming it)
TABLES = ("runs", "pyoneers", "assignments", "events")
#: each table's key: a mirror's row with the same key is the same row
KEYS = {
    "runs": ("id",),
    "pyoneers": ("run_id", "id"),
    "assignments": ("run_id", "kind", "name", "attempt"),
    "events": (),  # appended; their numbers (seq) are the mirror's own
}

Row = tuple[str, dict[str, Any]]


class Journal:
    """The rows written through ``ledger``'s connection, told once each."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        db = ledger.connection
        # temporary: they live and die with this connection, and the file stays as it is
        db.execute("CREATE TEMP TABLE IF NOT EXISTS journal (tbl TEXT NOT NULL, rid INTEGER NOT NULL,"
                   " PRIMARY KEY (tbl, rid)) WITHOUT ROWID")
        for table in TABLES:
            for change in ("INSERT", "UPDATE"):
                db.execute(
                    f"CREATE TEMP TRIGGER IF NOT EXISTS journal_{table}_{change.lower()} AFTER {change}"
                    f" ON main.{table} BEGIN INSERT OR IGNORE INTO journal VALUES ('{table}', new.rowid); END"
                )
        db.commit()

    def changes(self) -> list[Row]:
        """Every row written (and committed) since the last call, as it is now."""
        with self._ledger.writing("read the ledger's changes") as db:
            noted: dict[str, list[int]] = {}
            for table, rid in db.execute("SELECT tbl, rid FROM journal"):
                noted.setdefault(table, []).append(rid)
            if not noted:
                return []
            db.execute("DELETE FROM journal")
        rows: list[Row] = []
        for table in TABLES:
            for chunk in _chunks(sorted(noted.get(table, ())), 500):
                marks = ", ".join("?" for _ in chunk)
                cursor = self._ledger.connection.execute(
                    f"SELECT * FROM main.{table} WHERE rowid IN ({marks}) ORDER BY rowid", chunk
                )
                names = [column[0] for column in cursor.description]
                rows += [(table, dict(zip(names, values))) for values in cursor.fetchall()]
        return rows


def apply(ledger: Ledger, submission: str, lines: Sequence[tuple[int, Sequence[Row]]]) -> int:
    """Write into the mirror ``ledger`` the rows of each numbered line of ``submission``'s
    stream that it has not heard yet, and note the last number: all of it, or (on any
    error) none of it. Another command may be applying the same lines at the same time
    (``status`` while ``attach`` runs): what it applied first is skipped. The number of
    the last line heard, after."""
    with ledger.writing("write the mirror of a submitted run") as db:
        db.execute("BEGIN IMMEDIATE")  # what was heard, read under the write lock
        found = db.execute("SELECT heard FROM submissions WHERE id = ?", (submission,)).fetchone()
        heard = found[0] if found else 0
        columns = {table: _columns(db, table) for table in TABLES}
        for number, rows in lines:
            if number <= heard:
                continue
            for table, row in rows:
                if table not in KEYS:
                    continue  # a table this Pyoneer does not mirror
                known = {name: value for name, value in row.items() if name in columns[table] and name != "seq"}
                db.execute(_upsert(table, tuple(known)), tuple(known.values()))
            heard = number
        db.execute("UPDATE submissions SET heard = ? WHERE id = ?", (heard, submission))
    return heard


def _upsert(table: str, names: Sequence[str]) -> str:
    """The statement that writes a row of ``table`` with ``names``: replacing the row
    with its key (in place: its rowid, hence its order, stays), or appending an event."""
    marks = ", ".join("?" for _ in names)
    statement = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
    key = KEYS[table]
    if not key:
        return statement
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name not in key)
    return f"{statement} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA main.table_info({table})")}


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
